"""In-memory state of one emulated Shopify shop, and the platform's business rules.

This module is the sandbox's "backend" (moto calls it the models): shop, catalog,
locations and inventory levels, customers, orders with their transactions, refunds,
fulfillment orders and fulfillments, webhook subscriptions and the event log. Every
mutation applies Shopify's rules (totals, financial and fulfillment status derivation,
inventory commitment and restock) and announces itself as a :class:`DomainEvent`, which
the webhook publisher turns into pushes.

Money is :class:`~decimal.Decimal` rounded to cents; times are timezone-aware UTC with
whole seconds (rendering converts them to the shop's zone). Nothing here knows about HTTP.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from shopbridge.sandbox.common.clock import Clock
from shopbridge.sandbox.common.rand import DeterministicRandom
from shopbridge.sandbox.shopify.options import ShopifySandboxOptions, load_zone

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def cents(value: Decimal) -> Decimal:
    """Round to cents, half up (how Shopify rounds displayed money)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


# ---------------------------------------------------------------------------------------
# errors


class StateError(Exception):
    """Base class of business-rule violations."""


class NotFoundError(StateError):
    """The addressed resource does not exist (HTTP 404)."""


class InvalidError(StateError):
    """The request is well-formed but breaks a rule (HTTP 422).

    ``errors`` is the value of Shopify's ``errors`` key: ``{"field": ["message"]}``.
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def invalid(field_name: str, message: str) -> InvalidError:
    return InvalidError({field_name: [message]})


@dataclass(frozen=True)
class Shortage:
    """One checkout line the stock cannot cover."""

    index: int
    variant_id: int
    sku: str
    title: str
    requested: int
    available: int

    @property
    def message(self) -> str:
        # Shopify's checkout wording; since 2021 it no longer tells how many are left.
        if self.available <= 0:
            return f"{self.title} is out of stock"
        return "Not enough items available"


class OutOfStockError(InvalidError):
    """A checkout asked for more of a stock-tracked, ``deny``-policy variant than its
    fulfilling location has available (HTTP 422, nothing was created or reserved)."""

    def __init__(self, shortages: list[Shortage]) -> None:
        super().__init__({"line_items": [s.message for s in shortages]})
        self.shortages = shortages


# ---------------------------------------------------------------------------------------
# ids


_ID_BASES: dict[str, tuple[int, int, int]] = {
    # kind: (first id, min step, max step) - Shopify ids are int64, all below 2**53 here.
    "order": (6_120_459_000_000, 1_000, 60_000),
    "line_item": (15_481_200_000_000, 1, 4_000),
    "customer": (7_405_120_000_000, 1_000, 90_000),
    "address": (9_202_300_000_000, 1, 900),
    "product": (8_903_310_000_000, 10_000, 90_000),
    "product_option": (10_820_400_000_000, 1_000, 40_000),
    "variant": (46_201_770_000_000, 10_000, 90_000),
    "inventory_item": (48_330_560_000_000, 10_000, 90_000),
    "location": (71_024_000_000, 1_000, 50_000),
    "fulfillment_order": (7_132_904_000_000, 1_000, 40_000),
    "fulfillment_order_line": (15_390_250_000_000, 1, 4_000),
    "fulfillment": (5_611_007_000_000, 1_000, 40_000),
    "refund": (981_204_000_000, 1_000, 40_000),
    "refund_line_item": (562_310_000_000, 1, 4_000),
    "order_adjustment": (271_880_000_000, 1, 4_000),
    "transaction": (7_821_300_000_000, 1_000, 40_000),
    "shipping_line": (4_905_600_000_000, 1, 4_000),
    "event": (104_300_000_000_000, 1, 200),
    "webhook": (1_422_800_000_000, 1_000, 40_000),
    "shop": (71_320_000_000, 0, 0),
}


class IdAllocator:
    """Increasing int64 ids per resource kind with realistic, deterministic gaps."""

    def __init__(self, rng: DeterministicRandom) -> None:
        self._rng = rng
        self._last: dict[str, int] = {}

    def next(self, kind: str) -> int:
        first, low, high = _ID_BASES[kind]
        last = self._last.get(kind)
        value = first if last is None else last + self._rng.randint(low, high)
        self._last[kind] = value
        return value


# ---------------------------------------------------------------------------------------
# catalog, locations, inventory


@dataclass
class Location:
    id: int
    name: str
    address1: str
    address2: str | None
    city: str
    zip: str
    province: str
    province_code: str
    country: str
    country_code: str
    phone: str | None
    created_at: datetime
    updated_at: datetime
    active: bool = True


@dataclass
class InventoryItem:
    id: int
    sku: str
    cost: Decimal
    created_at: datetime
    updated_at: datetime
    tracked: bool = True
    requires_shipping: bool = True
    country_code_of_origin: str | None = None
    harmonized_system_code: str | None = None


@dataclass
class Variant:
    id: int
    product_id: int
    title: str
    sku: str
    price: Decimal
    compare_at_price: Decimal | None
    position: int
    option1: str | None
    option2: str | None
    option3: str | None
    barcode: str | None
    grams: int
    inventory_item_id: int
    created_at: datetime
    updated_at: datetime
    taxable: bool = True
    requires_shipping: bool = True
    inventory_policy: str = "deny"
    inventory_management: str | None = "shopify"


@dataclass
class ProductOption:
    id: int
    name: str
    position: int
    values: list[str]


@dataclass
class Product:
    id: int
    title: str
    handle: str
    vendor: str
    product_type: str
    body_html: str
    tags: str
    status: str
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    options: list[ProductOption]
    variant_ids: list[int]


@dataclass
class InventoryLevel:
    inventory_item_id: int
    location_id: int
    available: int
    updated_at: datetime


# ---------------------------------------------------------------------------------------
# customers and orders


@dataclass
class Address:
    first_name: str | None
    last_name: str | None
    address1: str | None
    address2: str | None
    city: str | None
    province: str | None
    province_code: str | None
    country: str | None
    country_code: str | None
    zip: str | None
    phone: str | None
    company: str | None = None
    latitude: float | None = None
    longitude: float | None = None

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass
class Customer:
    id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    created_at: datetime
    updated_at: datetime
    default_address: Address
    default_address_id: int
    accepts_marketing: bool = False
    tags: str = ""
    note: str | None = None
    verified_email: bool = True
    state: str = "enabled"


@dataclass
class TaxLine:
    title: str
    rate: Decimal
    price: Decimal


@dataclass
class DiscountAllocation:
    amount: Decimal
    application_index: int


@dataclass
class LineItem:
    id: int
    product_id: int | None
    variant_id: int | None
    inventory_item_id: int | None
    sku: str
    title: str
    variant_title: str | None
    vendor: str | None
    quantity: int
    price: Decimal
    grams: int
    taxable: bool
    requires_shipping: bool
    tax_lines: list[TaxLine] = field(default_factory=list)
    discount_allocations: list[DiscountAllocation] = field(default_factory=list)
    properties: list[dict[str, str]] = field(default_factory=list)
    fulfillment_service: str = "manual"
    gift_card: bool = False

    @property
    def name(self) -> str:
        return f"{self.title} - {self.variant_title}" if self.variant_title else self.title

    @property
    def gross(self) -> Decimal:
        return cents(self.price * self.quantity)

    @property
    def discount(self) -> Decimal:
        return cents(sum((a.amount for a in self.discount_allocations), ZERO))

    @property
    def tax(self) -> Decimal:
        return cents(sum((t.price for t in self.tax_lines), ZERO))


@dataclass
class ShippingLine:
    id: int
    title: str
    code: str
    source: str
    price: Decimal
    discount: Decimal = ZERO
    tax_lines: list[TaxLine] = field(default_factory=list)
    carrier_identifier: str | None = None


@dataclass
class DiscountCode:
    code: str
    amount: Decimal
    type: Literal["fixed_amount", "percentage", "shipping"]


@dataclass
class DiscountApplication:
    type: Literal["discount_code", "automatic", "manual", "script"]
    value: Decimal
    value_type: Literal["fixed_amount", "percentage"]
    allocation_method: Literal["across", "each", "one"]
    target_selection: Literal["all", "entitled", "explicit"]
    target_type: Literal["line_item", "shipping_line"]
    code: str | None = None
    title: str | None = None
    description: str | None = None


TransactionKind = Literal["authorization", "capture", "sale", "void", "refund"]


@dataclass
class Transaction:
    id: int
    order_id: int
    kind: TransactionKind
    status: Literal["success", "pending", "failure", "error"]
    amount: Decimal
    currency: str
    gateway: str
    parent_id: int | None
    created_at: datetime
    processed_at: datetime
    authorization: str | None = None
    message: str | None = None
    source_name: str = "web"
    test: bool = False


@dataclass
class RefundLineItem:
    id: int
    line_item_id: int
    quantity: int
    restock_type: Literal["no_restock", "cancel", "return", "legacy_restock"]
    location_id: int | None
    subtotal: Decimal
    total_tax: Decimal


@dataclass
class OrderAdjustment:
    id: int
    refund_id: int
    amount: Decimal
    """Positive amount refunded (rendered negative, as Shopify does)."""
    tax_amount: Decimal
    kind: Literal["shipping_refund", "refund_discrepancy"]
    reason: str


@dataclass
class Refund:
    id: int
    order_id: int
    created_at: datetime
    processed_at: datetime
    note: str | None
    restock: bool
    refund_line_items: list[RefundLineItem]
    transactions: list[Transaction]
    order_adjustments: list[OrderAdjustment]
    source: str = "api"


@dataclass
class FulfillmentLine:
    line_item_id: int
    quantity: int
    fulfillment_order_id: int
    fulfillment_order_line_id: int


@dataclass
class TrackingInfo:
    number: str | None = None
    company: str | None = None
    url: str | None = None


@dataclass
class Fulfillment:
    id: int
    order_id: int
    location_id: int
    name: str
    status: Literal["pending", "open", "success", "cancelled", "error", "failure"]
    lines: list[FulfillmentLine]
    created_at: datetime
    updated_at: datetime
    tracking_company: str | None = None
    tracking_numbers: list[str] = field(default_factory=list)
    tracking_urls: list[str] = field(default_factory=list)
    notify_customer: bool = False
    message: str | None = None
    service: str = "manual"
    shipment_status: str | None = None
    source: str = "api"
    """``api`` when a client created it through the Admin API, ``sandbox`` otherwise."""


@dataclass
class FulfillmentOrderLine:
    id: int
    fulfillment_order_id: int
    line_item_id: int
    inventory_item_id: int | None
    variant_id: int | None
    quantity: int
    fulfillable_quantity: int


@dataclass
class FulfillmentOrder:
    id: int
    order_id: int
    assigned_location_id: int
    status: Literal[
        "open", "in_progress", "closed", "cancelled", "on_hold", "scheduled", "incomplete"
    ]
    request_status: str
    lines: list[FulfillmentOrderLine]
    created_at: datetime
    updated_at: datetime
    fulfill_at: datetime | None = None
    fulfill_by: datetime | None = None

    @property
    def supported_actions(self) -> list[str]:
        if self.status in ("open", "in_progress"):
            return ["create_fulfillment", "hold", "move"]
        return []


@dataclass
class OrderTotals:
    """Derived money figures of an order (see :meth:`Order.totals`)."""

    total_line_items_price: Decimal
    line_discounts: Decimal
    shipping_price: Decimal
    shipping_discounts: Decimal
    total_discounts: Decimal
    subtotal_price: Decimal
    total_tax: Decimal
    total_price: Decimal
    current_subtotal_price: Decimal
    current_total_tax: Decimal
    current_total_discounts: Decimal
    current_total_price: Decimal
    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    total_outstanding: Decimal
    total_weight: int


FinancialStatus = Literal[
    "pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided"
]
FulfillmentStatus = Literal["partial", "fulfilled", "restocked"] | None


@dataclass
class Order:
    id: int
    order_number: int
    token: str
    confirmation_number: str
    created_at: datetime
    updated_at: datetime
    processed_at: datetime
    currency: str
    taxes_included: bool
    email: str | None
    phone: str | None
    customer_id: int | None
    billing_address: Address | None
    shipping_address: Address | None
    line_items: list[LineItem]
    shipping_lines: list[ShippingLine]
    discount_codes: list[DiscountCode]
    discount_applications: list[DiscountApplication]
    gateway: str
    source_name: str = "web"
    note: str | None = None
    tags: str = ""
    note_attributes: list[dict[str, str]] = field(default_factory=list)
    buyer_accepts_marketing: bool = False
    browser_ip: str | None = None
    customer_locale: str | None = None
    test: bool = False
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    closed_at: datetime | None = None
    transactions: list[Transaction] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    fulfillments: list[Fulfillment] = field(default_factory=list)
    fulfillment_order_ids: list[int] = field(default_factory=list)
    restocked_on_cancel: bool = False

    @property
    def name(self) -> str:
        return f"#{self.order_number}"

    @property
    def number(self) -> int:
        return self.order_number - 1000

    def line(self, line_item_id: int) -> LineItem:
        for line in self.line_items:
            if line.id == line_item_id:
                return line
        raise NotFoundError(f"line item {line_item_id}")

    def refunded_quantity(self, line_item_id: int) -> int:
        return sum(
            rli.quantity
            for refund in self.refunds
            for rli in refund.refund_line_items
            if rli.line_item_id == line_item_id
        )

    def fulfilled_quantity(self, line_item_id: int) -> int:
        return sum(
            fl.quantity
            for fulfillment in self.fulfillments
            if fulfillment.status == "success"
            for fl in fulfillment.lines
            if fl.line_item_id == line_item_id
        )

    def current_quantity(self, line_item_id: int) -> int:
        return self.line(line_item_id).quantity - self.refunded_quantity(line_item_id)

    def fulfillable_quantity(self, line_item_id: int) -> int:
        if self.cancelled_at is not None:
            return 0
        line = self.line(line_item_id)
        if not line.requires_shipping:
            return 0
        return max(0, self.current_quantity(line_item_id) - self.fulfilled_quantity(line_item_id))

    def line_fulfillment_status(self, line_item_id: int) -> str | None:
        fulfilled = self.fulfilled_quantity(line_item_id)
        if fulfilled == 0:
            return None
        if fulfilled >= self.current_quantity(line_item_id):
            return "fulfilled"
        return "partial"

    @property
    def fulfillment_status(self) -> FulfillmentStatus:
        shippable = [line for line in self.line_items if line.requires_shipping]
        fulfilled_any = any(self.fulfilled_quantity(line.id) > 0 for line in shippable)
        if not fulfilled_any:
            return "restocked" if self.restocked_on_cancel else None
        remaining = sum(
            max(0, self.current_quantity(line.id) - self.fulfilled_quantity(line.id))
            for line in shippable
        )
        return "fulfilled" if remaining == 0 else "partial"

    def totals(self) -> OrderTotals:
        gross = sum((line.gross for line in self.line_items), ZERO)
        line_discounts = sum((line.discount for line in self.line_items), ZERO)
        line_tax = sum((line.tax for line in self.line_items), ZERO)
        shipping = sum((s.price for s in self.shipping_lines), ZERO)
        shipping_discounts = sum((s.discount for s in self.shipping_lines), ZERO)
        shipping_tax = sum((t.price for s in self.shipping_lines for t in s.tax_lines), ZERO)
        subtotal = gross - line_discounts
        total_tax = line_tax + shipping_tax
        net_shipping = shipping - shipping_discounts
        total_price = subtotal + net_shipping + (ZERO if self.taxes_included else total_tax)

        refunded_subtotal = ZERO
        refunded_tax = ZERO
        refunded_discounts = ZERO
        refunded_shipping = ZERO
        for refund in self.refunds:
            for rli in refund.refund_line_items:
                line = self.line(rli.line_item_id)
                refunded_subtotal += rli.subtotal
                refunded_tax += rli.total_tax
                refunded_discounts += cents(line.discount * rli.quantity / line.quantity)
            for adj in refund.order_adjustments:
                if adj.kind == "shipping_refund":
                    refunded_shipping += adj.amount
                    refunded_tax += adj.tax_amount
        current_subtotal = subtotal - refunded_subtotal
        current_tax = total_tax - refunded_tax
        current_discounts = line_discounts + shipping_discounts - refunded_discounts
        current_total = (
            current_subtotal
            + net_shipping
            - refunded_shipping
            + (ZERO if self.taxes_included else current_tax)
        )

        ok = [t for t in self.transactions if t.status == "success"]
        authorized = sum((t.amount for t in ok if t.kind == "authorization"), ZERO)
        voided_auth = sum(
            (t.amount for t in ok if t.kind == "void" and t.parent_id is not None),
            ZERO,
        )
        captured = sum((t.amount for t in ok if t.kind in ("capture", "sale")), ZERO)
        refunded = sum((t.amount for t in ok if t.kind == "refund"), ZERO)
        outstanding = max(ZERO, current_total - (captured - refunded))
        if self.cancelled_at is not None:
            outstanding = ZERO
        return OrderTotals(
            total_line_items_price=cents(gross),
            line_discounts=cents(line_discounts),
            shipping_price=cents(shipping),
            shipping_discounts=cents(shipping_discounts),
            total_discounts=cents(line_discounts + shipping_discounts),
            subtotal_price=cents(subtotal),
            total_tax=cents(total_tax),
            total_price=cents(total_price),
            current_subtotal_price=cents(max(ZERO, current_subtotal)),
            current_total_tax=cents(max(ZERO, current_tax)),
            current_total_discounts=cents(max(ZERO, current_discounts)),
            current_total_price=cents(max(ZERO, current_total)),
            authorized=cents(max(ZERO, authorized - voided_auth)),
            captured=cents(captured),
            refunded=cents(refunded),
            total_outstanding=cents(outstanding),
            total_weight=sum(line.grams * line.quantity for line in self.line_items),
        )

    @property
    def financial_status(self) -> FinancialStatus:
        totals = self.totals()
        ok = [t for t in self.transactions if t.status == "success"]
        if totals.captured > 0:
            if totals.refunded >= totals.captured:
                return "refunded"
            if totals.refunded > 0:
                return "partially_refunded"
            if totals.captured >= totals.total_price:
                return "paid"
            return "partially_paid"
        if any(t.kind == "void" for t in ok):
            return "voided"
        if totals.authorized > 0:
            return "authorized"
        return "pending"


@dataclass
class Webhook:
    id: int
    address: str
    topic: str
    fields: list[str]
    api_version: str
    created_at: datetime
    updated_at: datetime
    format: str = "json"
    metafield_namespaces: list[str] = field(default_factory=list)


@dataclass
class Event:
    id: int
    subject_id: int
    subject_type: str
    verb: str
    created_at: datetime
    message: str
    arguments: list[str]
    path: str
    author: str = "Shopify"
    body: str | None = None


# ---------------------------------------------------------------------------------------
# inputs


@dataclass
class LineRequest:
    variant_id: int
    quantity: int
    price: Decimal | None = None
    properties: list[dict[str, str]] = field(default_factory=list)


@dataclass
class DiscountRequest:
    code: str
    value: Decimal
    value_type: Literal["percentage", "fixed_amount", "shipping"]


@dataclass
class ShippingRequest:
    title: str
    code: str
    price: Decimal
    source: str = "shopify"


@dataclass
class BuyerRequest:
    first_name: str
    last_name: str
    email: str
    phone: str | None
    address: Address
    accepts_marketing: bool = False
    customer_id: int | None = None


PaymentPlan = Literal["paid", "authorized", "pending", "partially_paid"]


@dataclass
class OrderDraft:
    lines: list[LineRequest]
    buyer: BuyerRequest
    payment: PaymentPlan = "paid"
    gateway: str = "shopify_payments"
    discount: DiscountRequest | None = None
    shipping: ShippingRequest | None = None
    note: str | None = None
    tags: str = ""
    source_name: str = "web"
    test: bool = False
    note_attributes: list[dict[str, str]] = field(default_factory=list)
    browser_ip: str | None = None
    customer_locale: str | None = None


@dataclass(frozen=True)
class PlannedRefundLine:
    line_item_id: int
    quantity: int
    restock_type: Literal["no_restock", "cancel", "return"]
    location_id: int | None
    subtotal: Decimal
    total_tax: Decimal
    discount: Decimal


@dataclass(frozen=True)
class RefundPlan:
    """A priced, validated refund that has not been applied."""

    lines: list[PlannedRefundLine]
    shipping: Decimal
    shipping_left: Decimal
    due: Decimal
    """Value of the refunded lines (tax included) and shipping."""
    refundable: Decimal
    """Money captured and not yet refunded."""


@dataclass
class RefundLineRequest:
    line_item_id: int
    quantity: int
    restock_type: Literal["no_restock", "cancel", "return"] = "no_restock"
    location_id: int | None = None


@dataclass
class FulfillmentRequest:
    fulfillment_order_id: int
    items: list[tuple[int, int]] | None = None
    """``(fulfillment_order_line_item_id, quantity)``; None = everything remaining."""


# ---------------------------------------------------------------------------------------
# events


DomainResource = Literal["order", "refund", "fulfillment", "inventory_level", "deleted_order"]


@dataclass(frozen=True)
class DomainEvent:
    """A change the webhook publisher may turn into pushes."""

    topic: str
    resource: DomainResource
    occurred_at: datetime
    order_id: int | None = None
    refund_id: int | None = None
    fulfillment_id: int | None = None
    inventory_item_id: int | None = None
    location_id: int | None = None


Listener = Callable[[DomainEvent], None]

# Topics the sandbox emits, plus others Shopify accepts for subscription.
EMITTED_TOPICS: tuple[str, ...] = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "orders/fulfilled",
    "orders/partially_fulfilled",
    "orders/delete",
    "refunds/create",
    "fulfillments/create",
    "fulfillments/update",
    "inventory_levels/update",
    "inventory_levels/connect",
    "inventory_levels/disconnect",
)
ACCEPTED_TOPICS: frozenset[str] = frozenset(
    (
        *EMITTED_TOPICS,
        "orders/edited",
        "app/uninstalled",
        "products/create",
        "products/update",
        "products/delete",
        "inventory_items/create",
        "inventory_items/update",
        "inventory_items/delete",
        "fulfillment_orders/fulfillment_request_submitted",
        "shop/update",
        "customers/create",
        "customers/update",
    )
)

_CARRIER_URLS: dict[str, str] = {
    "UPS": "https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums={n}",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction?tLabels={n}",
    "FedEx": "https://www.fedex.com/fedextrack/?trknbr={n}",
    "DHL Express": "https://www.dhl.com/en/express/tracking.html?AWB={n}&brand=DHL",
    "SF Express": "https://www.sf-express.com/chn/sc/waybill/waybill-detail/{n}",
    "China Post": "https://yjcx.ems.com.cn/qps/yjcx?mailNum={n}",
    "YTO Express": "https://www.yto.net.cn/tracesimple.html?waybillNo={n}",
    "ZTO Express": "https://www.zto.com/express/expressCheck.html?txtBill={n}",
}


def tracking_url_for(company: str | None, number: str | None) -> str | None:
    """Tracking URL Shopify-style auto-fill for known carriers."""
    if not number:
        return None
    template = _CARRIER_URLS.get(company or "")
    return template.format(n=number) if template else None


def infer_carrier(number: str) -> str | None:
    if number.upper().startswith("1Z"):
        return "UPS"
    if number.upper().startswith("SF"):
        return "SF Express"
    return None


# ---------------------------------------------------------------------------------------
# the shop


@dataclass
class Shop:
    id: int
    name: str
    domain: str
    myshopify_domain: str
    email: str
    currency: str
    iana_timezone: str
    zone: tzinfo
    country_code: str
    country_name: str
    province: str
    province_code: str
    city: str
    address1: str
    zip: str
    phone: str
    shop_owner: str
    plan_name: str
    plan_display_name: str
    weight_unit: str
    taxes_included: bool
    money_format: str
    created_at: datetime
    updated_at: datetime
    primary_locale: str


@dataclass
class ShipmentRecord:
    """A fulfillment a client created through the Admin API (read by the control API)."""

    fulfillment_id: int
    order_id: int
    recorded_at: datetime


@dataclass
class StockRecord:
    """One inventory change a client made through the Admin API."""

    recorded_at: datetime
    operation: Literal["set", "adjust", "connect", "delete"]
    inventory_item_id: int
    location_id: int
    sku: str | None
    previous: int | None
    available: int | None


class ShopifyState:
    """All data of one sandbox shop. Thread-safe: every public mutation takes ``lock``."""

    def __init__(
        self, options: ShopifySandboxOptions, clock: Clock, rng: DeterministicRandom
    ) -> None:
        self.options = options
        self.clock = clock
        self.rng = rng
        self.ids = IdAllocator(rng.child("ids"))
        self.lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._emit_enabled = True
        self._order_numbers = itertools.count(1001)
        zone_name = options.shop_timezone
        created = whole_seconds(self.now() - timedelta(days=730))
        is_cny = options.currency == "CNY"
        self.shop = Shop(
            id=self.ids.next("shop"),
            name=options.shop_name,
            domain=options.shop_domain,
            myshopify_domain=options.shop_domain,
            email=f"owner@{options.shop_handle}.example.com",
            currency=options.currency,
            iana_timezone=zone_name,
            zone=load_zone(zone_name),
            country_code="CN" if is_cny else "US",
            country_name="China" if is_cny else "United States",
            province="Shanghai" if is_cny else "New York",
            province_code="SH" if is_cny else "NY",
            city="Shanghai" if is_cny else "New York",
            address1="88 Sample Road" if is_cny else "150 Example Street",
            zip="200000" if is_cny else "10001",
            phone="+86 21 0000 0000" if is_cny else "+1 212-555-0100",
            shop_owner="Sandbox Owner",
            plan_name="basic",
            plan_display_name="Basic",
            weight_unit="kg" if is_cny else "lb",
            taxes_included=is_cny,
            money_format="¥{{amount}}" if is_cny else "${{amount}}",
            created_at=created,
            updated_at=created,
            primary_locale="zh-CN" if is_cny else "en",
        )
        self.locations: dict[int, Location] = {}
        self.products: dict[int, Product] = {}
        self.variants: dict[int, Variant] = {}
        self.inventory_items: dict[int, InventoryItem] = {}
        self.levels: dict[tuple[int, int], InventoryLevel] = {}
        self.customers: dict[int, Customer] = {}
        self._customer_by_email: dict[str, Customer] = {}
        self.customer_list: list[Customer] = []
        """`customers` in the order they were added, and by e-mail: customers are only ever
        added (`_customer_for`), never changed or removed, so these stay in step and spare
        every new order a scan or a copy of all customers (which made a long flash sale
        quadratic)."""
        self.orders: dict[int, Order] = {}
        self.fulfillment_orders: dict[int, FulfillmentOrder] = {}
        self.fulfillment_index: dict[int, int] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.events: list[Event] = []
        self.shipments: list[ShipmentRecord] = []
        self.stock_changes: list[StockRecord] = []
        self.deleted_order_ids: set[int] = set()

    # plumbing ----------------------------------------------------------------------

    def now(self) -> datetime:
        return whole_seconds(self.clock.now())

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Apply changes without emitting webhooks (used for seeding history)."""
        with self.lock:
            previous = self._emit_enabled
            self._emit_enabled = False
            try:
                yield
            finally:
                self._emit_enabled = previous

    def _emit(self, event: DomainEvent) -> None:
        if not self._emit_enabled:
            return
        for listener in list(self._listeners):
            listener(event)

    def _event(self, order: Order, verb: str, message: str, at: datetime, *args: str) -> None:
        self.events.append(
            Event(
                id=self.ids.next("event"),
                subject_id=order.id,
                subject_type="Order",
                verb=verb,
                created_at=at,
                message=message,
                arguments=[order.name, *args],
                path=f"/admin/orders/{order.id}",
            )
        )

    def _touch(self, order: Order, at: datetime) -> None:
        order.updated_at = max(order.updated_at, at)

    # lookups -----------------------------------------------------------------------

    @property
    def primary_location_id(self) -> int:
        return next(iter(self.locations))

    def order(self, order_id: int) -> Order:
        try:
            return self.orders[order_id]
        except KeyError:
            raise NotFoundError(f"order {order_id}") from None

    def variant(self, variant_id: int) -> Variant:
        try:
            return self.variants[variant_id]
        except KeyError:
            raise NotFoundError(f"variant {variant_id}") from None

    def variant_by_sku(self, sku: str) -> Variant:
        for variant in self.variants.values():
            if variant.sku == sku:
                return variant
        raise NotFoundError(f"sku {sku}")

    def fulfillment(self, fulfillment_id: int) -> tuple[Order, Fulfillment]:
        order_id = self.fulfillment_index.get(fulfillment_id)
        if order_id is None or order_id not in self.orders:
            raise NotFoundError(f"fulfillment {fulfillment_id}")
        order = self.orders[order_id]
        for fulfillment in order.fulfillments:
            if fulfillment.id == fulfillment_id:
                return order, fulfillment
        raise NotFoundError(f"fulfillment {fulfillment_id}")

    def fulfillment_order(self, fulfillment_order_id: int) -> FulfillmentOrder:
        try:
            return self.fulfillment_orders[fulfillment_order_id]
        except KeyError:
            raise NotFoundError(f"fulfillment order {fulfillment_order_id}") from None

    def fulfillment_orders_of(self, order: Order) -> list[FulfillmentOrder]:
        return [self.fulfillment_orders[fid] for fid in order.fulfillment_order_ids]

    def available(self, inventory_item_id: int) -> int:
        return sum(
            level.available
            for (item_id, _), level in self.levels.items()
            if item_id == inventory_item_id
        )

    def sku_of_item(self, inventory_item_id: int) -> str | None:
        item = self.inventory_items.get(inventory_item_id)
        return item.sku if item else None

    # catalog -----------------------------------------------------------------------

    def add_location(self, location: Location) -> None:
        with self.lock:
            self.locations[location.id] = location

    def add_product(
        self, product: Product, variants: list[Variant], items: list[InventoryItem]
    ) -> None:
        with self.lock:
            self.products[product.id] = product
            for variant in variants:
                self.variants[variant.id] = variant
            for item in items:
                self.inventory_items[item.id] = item

    def seed_level(self, level: InventoryLevel) -> None:
        """Stock an item at a location without recording or announcing it (seeding)."""
        with self.lock:
            self.levels[(level.inventory_item_id, level.location_id)] = level

    def _level_change(self, level: InventoryLevel, delta: int, at: datetime) -> None:
        level.available += delta
        level.updated_at = at
        self._emit(
            DomainEvent(
                "inventory_levels/update",
                "inventory_level",
                at,
                inventory_item_id=level.inventory_item_id,
                location_id=level.location_id,
            )
        )

    def _require_item_and_location(self, inventory_item_id: int, location_id: int) -> None:
        if inventory_item_id not in self.inventory_items:
            raise invalid("inventory_item_id", "Inventory item does not exist")
        if location_id not in self.locations:
            raise invalid("location_id", "Location does not exist")

    def set_available(
        self, inventory_item_id: int, location_id: int, available: int, *, source: str = "api"
    ) -> InventoryLevel:
        """Set the available quantity (connecting the item to the location if needed)."""
        with self.lock:
            self._require_item_and_location(inventory_item_id, location_id)
            at = self.now()
            key = (inventory_item_id, location_id)
            level = self.levels.get(key)
            previous = level.available if level else None
            if level is None:
                level = InventoryLevel(inventory_item_id, location_id, 0, at)
                self.levels[key] = level
            self._level_change(level, available - level.available, at)
            if source == "api":
                self.stock_changes.append(
                    StockRecord(
                        at,
                        "set",
                        inventory_item_id,
                        location_id,
                        self.sku_of_item(inventory_item_id),
                        previous,
                        available,
                    )
                )
            return level

    def adjust_available(
        self, inventory_item_id: int, location_id: int, delta: int, *, source: str = "api"
    ) -> InventoryLevel:
        with self.lock:
            self._require_item_and_location(inventory_item_id, location_id)
            level = self.levels.get((inventory_item_id, location_id))
            if level is None:
                raise invalid("base", "Inventory item is not stocked at the location")
            at = self.now()
            previous = level.available
            self._level_change(level, delta, at)
            if source == "api":
                self.stock_changes.append(
                    StockRecord(
                        at,
                        "adjust",
                        inventory_item_id,
                        location_id,
                        self.sku_of_item(inventory_item_id),
                        previous,
                        level.available,
                    )
                )
            return level

    def connect_level(
        self, inventory_item_id: int, location_id: int
    ) -> tuple[InventoryLevel, bool]:
        """Stock an item at a location; returns the level and whether it was created."""
        with self.lock:
            self._require_item_and_location(inventory_item_id, location_id)
            key = (inventory_item_id, location_id)
            if key in self.levels:
                return self.levels[key], False
            at = self.now()
            level = InventoryLevel(inventory_item_id, location_id, 0, at)
            self.levels[key] = level
            self.stock_changes.append(
                StockRecord(
                    at,
                    "connect",
                    inventory_item_id,
                    location_id,
                    self.sku_of_item(inventory_item_id),
                    None,
                    0,
                )
            )
            self._emit(
                DomainEvent(
                    "inventory_levels/connect",
                    "inventory_level",
                    at,
                    inventory_item_id=inventory_item_id,
                    location_id=location_id,
                )
            )
            return level, True

    def disconnect_level(self, inventory_item_id: int, location_id: int) -> None:
        with self.lock:
            key = (inventory_item_id, location_id)
            level = self.levels.get(key)
            if level is None:
                raise NotFoundError("inventory level")
            at = self.now()
            self.stock_changes.append(
                StockRecord(
                    at,
                    "delete",
                    inventory_item_id,
                    location_id,
                    self.sku_of_item(inventory_item_id),
                    level.available,
                    None,
                )
            )
            self._emit(
                DomainEvent(
                    "inventory_levels/disconnect",
                    "inventory_level",
                    at,
                    inventory_item_id=inventory_item_id,
                    location_id=location_id,
                )
            )
            del self.levels[key]

    # orders ------------------------------------------------------------------------

    def _customer_for(self, buyer: BuyerRequest, at: datetime) -> Customer:
        if buyer.customer_id is not None and buyer.customer_id in self.customers:
            customer = self.customers[buyer.customer_id]
            customer.updated_at = at
            return customer
        known = self._customer_by_email.get(buyer.email) if buyer.email else None
        if known is not None:
            known.updated_at = at
            return known
        customer = Customer(
            id=self.ids.next("customer"),
            email=buyer.email,
            first_name=buyer.first_name,
            last_name=buyer.last_name,
            phone=buyer.phone,
            created_at=at,
            updated_at=at,
            default_address=buyer.address,
            default_address_id=self.ids.next("address"),
            accepts_marketing=buyer.accepts_marketing,
        )
        self.customers[customer.id] = customer
        self.customer_list.append(customer)
        if buyer.email:
            self._customer_by_email.setdefault(buyer.email, customer)
        return customer

    def _tax_rate(self, address: Address | None) -> tuple[str, Decimal]:
        if self.shop.currency == "CNY":
            return "VAT", Decimal("0.13")
        rates = {
            "CA": Decimal("0.0725"),
            "NY": Decimal("0.04"),
            "TX": Decimal("0.0625"),
            "WA": Decimal("0.065"),
            "IL": Decimal("0.0625"),
            "FL": Decimal("0.06"),
            "MA": Decimal("0.0625"),
            "GA": Decimal("0.04"),
            "OR": Decimal("0"),
            "CO": Decimal("0.029"),
            "PA": Decimal("0.06"),
            "AZ": Decimal("0.056"),
        }
        code = (address.province_code if address else None) or self.shop.province_code
        return f"{code} State Tax", rates.get(code, Decimal("0.05"))

    def shortages(self, lines: list[LineRequest]) -> list[Shortage]:
        """Lines a checkout would refuse: the variant is tracked by Shopify
        (``inventory_management: shopify``, a tracked inventory item), sells only while in
        stock (``inventory_policy: deny``) and its fulfilling (primary) location has fewer
        available than asked for (several lines of one variant count together)."""
        with self.lock:
            location_id = self.primary_location_id
            wanted: dict[int, int] = {}
            for request in lines:
                wanted[request.variant_id] = wanted.get(request.variant_id, 0) + request.quantity
            found: list[Shortage] = []
            reported: set[int] = set()
            for index, request in enumerate(lines):
                variant = self.variant(request.variant_id)
                if variant.id in reported:
                    continue
                item = self.inventory_items.get(variant.inventory_item_id)
                if (
                    variant.inventory_management != "shopify"
                    or variant.inventory_policy != "deny"
                    or item is None
                    or not item.tracked
                ):
                    continue
                level = self.levels.get((variant.inventory_item_id, location_id))
                have = level.available if level is not None else 0
                if wanted[variant.id] > have:
                    reported.add(variant.id)
                    product = self.products[variant.product_id]
                    title = (
                        product.title
                        if variant.title == "Default Title"
                        else f"{product.title} - {variant.title}"
                    )
                    found.append(
                        Shortage(index, variant.id, variant.sku, title, wanted[variant.id], have)
                    )
            return found

    def place_order(
        self, draft: OrderDraft, *, at: datetime | None = None, enforce_stock: bool = False
    ) -> Order:
        """Create an order the way checkout does: price, discount, tax, commit stock.

        With ``enforce_stock`` (a buyer's checkout) lines beyond the available stock of a
        ``deny``-policy variant refuse the whole order (`OutOfStockError`); the check and the
        decrement happen under the one state lock, so concurrent checkouts cannot both take
        the last unit. Without it (generated, streamed and seeded orders) stock is taken even
        below zero, as the sandbox always did."""
        if not draft.lines:
            raise invalid("line_items", "must have at least one line item")
        with self.lock:
            if enforce_stock:
                short = self.shortages(draft.lines)
                if short:
                    raise OutOfStockError(short)
            at = whole_seconds(at) if at else self.now()
            customer = self._customer_for(draft.buyer, at)
            tax_title, rate = self._tax_rate(draft.buyer.address)
            lines: list[LineItem] = []
            for request in draft.lines:
                if request.quantity < 1:
                    raise invalid("line_items", "quantity must be greater than 0")
                variant = self.variant(request.variant_id)
                product = self.products[variant.product_id]
                lines.append(
                    LineItem(
                        id=self.ids.next("line_item"),
                        product_id=product.id,
                        variant_id=variant.id,
                        inventory_item_id=variant.inventory_item_id,
                        sku=variant.sku,
                        title=product.title,
                        variant_title=None if variant.title == "Default Title" else variant.title,
                        vendor=product.vendor,
                        quantity=request.quantity,
                        price=cents(request.price if request.price is not None else variant.price),
                        grams=variant.grams,
                        taxable=variant.taxable,
                        requires_shipping=variant.requires_shipping,
                        properties=list(request.properties),
                    )
                )
            discount_codes: list[DiscountCode] = []
            applications: list[DiscountApplication] = []
            shipping_lines: list[ShippingLine] = []
            if draft.shipping is not None:
                shipping_lines.append(
                    ShippingLine(
                        id=self.ids.next("shipping_line"),
                        title=draft.shipping.title,
                        code=draft.shipping.code,
                        source=draft.shipping.source,
                        price=cents(draft.shipping.price),
                    )
                )
            if draft.discount is not None:
                self._apply_discount(
                    draft.discount, lines, shipping_lines, discount_codes, applications
                )
            for line in lines:
                if not line.taxable or rate == 0:
                    continue
                base = line.gross - line.discount
                tax = base * rate / (1 + rate) if self.shop.taxes_included else base * rate
                line.tax_lines.append(TaxLine(tax_title, rate, cents(tax)))
            order = Order(
                id=self.ids.next("order"),
                order_number=next(self._order_numbers),
                token=self.rng.hex(32),
                confirmation_number=self.rng.alnum(9),
                created_at=at,
                updated_at=at,
                processed_at=at,
                currency=self.shop.currency,
                taxes_included=self.shop.taxes_included,
                email=draft.buyer.email,
                phone=draft.buyer.phone,
                customer_id=customer.id,
                billing_address=draft.buyer.address,
                shipping_address=draft.buyer.address,
                line_items=lines,
                shipping_lines=shipping_lines,
                discount_codes=discount_codes,
                discount_applications=applications,
                gateway=draft.gateway,
                source_name=draft.source_name,
                note=draft.note,
                tags=draft.tags,
                note_attributes=list(draft.note_attributes),
                buyer_accepts_marketing=draft.buyer.accepts_marketing,
                browser_ip=draft.browser_ip,
                customer_locale=draft.customer_locale,
                test=draft.test,
            )
            self.orders[order.id] = order
            self._create_fulfillment_order(order, at)
            self._event(order, "placed", f"Order {order.name} was placed.", at)
            total = order.totals().total_price
            if draft.payment == "paid":
                self._transaction(order, "sale", total, None, at)
            elif draft.payment == "authorized":
                self._transaction(order, "authorization", total, None, at)
            elif draft.payment == "partially_paid":
                self._transaction(order, "sale", cents(total / 2), None, at)
            self._emit(DomainEvent("orders/create", "order", at, order_id=order.id))
            if order.financial_status == "paid":
                self._emit(DomainEvent("orders/paid", "order", at, order_id=order.id))
            location_id = self.primary_location_id
            for line in lines:
                if line.inventory_item_id is None:
                    continue
                level = self.levels.get((line.inventory_item_id, location_id))
                if level is not None:
                    self._level_change(level, -line.quantity, at)
            return order

    def _apply_discount(
        self,
        discount: DiscountRequest,
        lines: list[LineItem],
        shipping_lines: list[ShippingLine],
        codes: list[DiscountCode],
        applications: list[DiscountApplication],
    ) -> None:
        index = len(applications)
        if discount.value_type == "shipping":
            total = ZERO
            for shipping in shipping_lines:
                shipping.discount = shipping.price
                total += shipping.price
            applications.append(
                DiscountApplication(
                    "discount_code",
                    Decimal("100.0"),
                    "percentage",
                    "each",
                    "all",
                    "shipping_line",
                    code=discount.code,
                )
            )
            codes.append(DiscountCode(discount.code, cents(total), "shipping"))
            return
        gross = sum((line.gross for line in lines), ZERO)
        if gross <= 0:
            return
        if discount.value_type == "percentage":
            amounts = [cents(line.gross * discount.value / 100) for line in lines]
        else:
            wanted = min(cents(discount.value), gross)
            amounts = [cents(wanted * line.gross / gross) for line in lines]
            amounts[-1] += wanted - sum(amounts, ZERO)
        for line, amount in zip(lines, amounts, strict=True):
            if amount > 0:
                line.discount_allocations.append(DiscountAllocation(amount, index))
        applications.append(
            DiscountApplication(
                "discount_code",
                discount.value,
                discount.value_type,
                "across",
                "all",
                "line_item",
                code=discount.code,
            )
        )
        codes.append(DiscountCode(discount.code, cents(sum(amounts, ZERO)), discount.value_type))

    def _create_fulfillment_order(self, order: Order, at: datetime) -> None:
        fo_id = self.ids.next("fulfillment_order")
        lines = [
            FulfillmentOrderLine(
                id=self.ids.next("fulfillment_order_line"),
                fulfillment_order_id=fo_id,
                line_item_id=line.id,
                inventory_item_id=line.inventory_item_id,
                variant_id=line.variant_id,
                quantity=line.quantity,
                fulfillable_quantity=line.quantity,
            )
            for line in order.line_items
            if line.requires_shipping
        ]
        if not lines:
            return
        fo = FulfillmentOrder(
            id=fo_id,
            order_id=order.id,
            assigned_location_id=self.primary_location_id,
            status="open",
            request_status="unsubmitted",
            lines=lines,
            created_at=at,
            updated_at=at,
        )
        self.fulfillment_orders[fo.id] = fo
        order.fulfillment_order_ids.append(fo.id)

    def _transaction(
        self,
        order: Order,
        kind: TransactionKind,
        amount: Decimal,
        parent_id: int | None,
        at: datetime,
    ) -> Transaction:
        transaction = Transaction(
            id=self.ids.next("transaction"),
            order_id=order.id,
            kind=kind,
            status="success",
            amount=cents(amount),
            currency=order.currency,
            gateway=order.gateway,
            parent_id=parent_id,
            created_at=at,
            processed_at=at,
            authorization=self.rng.alnum(12) if kind in ("authorization", "sale") else None,
            test=order.test,
        )
        order.transactions.append(transaction)
        self._touch(order, at)
        verb = {
            "authorization": "authorization_success",
            "capture": "capture_success",
            "sale": "sale_success",
            "void": "void_success",
            "refund": "refund_success",
        }[kind]
        self._event(
            order, verb, f"A {kind} of {transaction.amount} {order.currency} was processed.", at
        )
        return transaction

    def pay(self, order_id: int, *, at: datetime | None = None) -> Order:
        """Collect what is outstanding (capture an authorization, or a sale)."""
        with self.lock:
            order = self.order(order_id)
            at = whole_seconds(at) if at else self.now()
            if order.cancelled_at is not None:
                raise invalid("base", "Cannot pay a cancelled order")
            status = order.financial_status
            if status in ("paid", "partially_refunded", "refunded"):
                raise invalid("base", f"Order is already {status}")
            if status == "voided":
                raise invalid("base", "Payment was voided")
            totals = order.totals()
            outstanding = totals.total_price - totals.captured
            authorization = next(
                (
                    t
                    for t in order.transactions
                    if t.kind == "authorization" and t.status == "success"
                ),
                None,
            )
            if status == "authorized" and authorization is not None:
                self._transaction(order, "capture", outstanding, authorization.id, at)
            else:
                self._transaction(order, "sale", outstanding, None, at)
            self._emit(DomainEvent("orders/updated", "order", at, order_id=order.id))
            if order.financial_status == "paid":
                self._emit(DomainEvent("orders/paid", "order", at, order_id=order.id))
            return order

    def add_transaction(
        self,
        order_id: int,
        kind: TransactionKind,
        amount: Decimal | None,
        parent_id: int | None,
    ) -> Transaction:
        """Admin API ``POST /orders/{id}/transactions.json`` (capture, void, ...)."""
        with self.lock:
            order = self.order(order_id)
            at = self.now()
            totals = order.totals()
            if kind == "capture":
                if totals.authorized <= 0:
                    raise invalid("base", "No authorized amount available to capture")
                parent = next(
                    (
                        t
                        for t in order.transactions
                        if t.kind == "authorization" and t.status == "success"
                    ),
                    None,
                )
                remaining = totals.authorized - totals.captured
                value = cents(amount) if amount is not None else remaining
                if value <= 0 or value > remaining:
                    raise invalid(
                        "amount", "must be greater than 0 and not exceed the authorized amount"
                    )
                transaction = self._transaction(
                    order, "capture", value, parent_id or (parent.id if parent else None), at
                )
            elif kind == "void":
                if totals.captured > 0 or totals.authorized <= 0:
                    raise invalid("base", "Nothing to void")
                transaction = self._transaction(order, "void", totals.authorized, parent_id, at)
            elif kind == "sale":
                value = (
                    cents(amount) if amount is not None else totals.total_price - totals.captured
                )
                if value <= 0:
                    raise invalid("amount", "must be greater than 0")
                transaction = self._transaction(order, "sale", value, None, at)
            else:
                raise invalid(
                    "kind",
                    f"{kind} transactions must be created through refunds or are not supported",
                )
            self._emit(DomainEvent("orders/updated", "order", at, order_id=order.id))
            if order.financial_status == "paid":
                self._emit(DomainEvent("orders/paid", "order", at, order_id=order.id))
            return transaction

    def fulfill(
        self,
        requests: list[FulfillmentRequest],
        *,
        tracking: TrackingInfo | None = None,
        notify_customer: bool = False,
        message: str | None = None,
        source: str = "api",
        at: datetime | None = None,
    ) -> Fulfillment:
        """Create a fulfillment from fulfillment orders (``POST /fulfillments.json``)."""
        if not requests:
            raise invalid("line_items_by_fulfillment_order", "must not be empty")
        with self.lock:
            at = whole_seconds(at) if at else self.now()
            fos = []
            for request in requests:
                fo = self.fulfillment_orders.get(request.fulfillment_order_id)
                if fo is None or fo.order_id not in self.orders:
                    raise invalid(
                        "fulfillment_order_id",
                        f"Fulfillment order {request.fulfillment_order_id} does not exist.",
                    )
                fos.append(fo)
            order_ids = {fo.order_id for fo in fos}
            if len(order_ids) != 1:
                raise invalid("base", "All fulfillment orders must belong to the same order.")
            order = self.orders[order_ids.pop()]
            planned: list[tuple[FulfillmentOrderLine, int]] = []
            for fo, request in zip(fos, requests, strict=True):
                if fo.status not in ("open", "in_progress"):
                    raise invalid(
                        "base",
                        f"Fulfillment order {fo.id} has an unfulfillable status= {fo.status}.",
                    )
                by_id = {line.id: line for line in fo.lines}
                if request.items is None:
                    planned.extend(
                        (line, line.fulfillable_quantity)
                        for line in fo.lines
                        if line.fulfillable_quantity > 0
                    )
                    continue
                for line_id, quantity in request.items:
                    line = by_id.get(line_id)
                    if line is None:
                        raise invalid(
                            "fulfillment_order_line_items",
                            f"Fulfillment order line item {line_id} does not belong to fulfillment order {fo.id}.",
                        )
                    if quantity < 1 or quantity > line.fulfillable_quantity:
                        raise invalid(
                            "fulfillment_order_line_items",
                            f"Invalid quantity {quantity} for fulfillment order line item {line_id}: "
                            f"{line.fulfillable_quantity} left to fulfill.",
                        )
                    planned.append((line, quantity))
            if not planned:
                raise invalid(
                    "base", "There are no fulfillable line items on the fulfillment order."
                )
            number = (tracking.number if tracking else None) or None
            company = (tracking.company if tracking else None) or (
                infer_carrier(number) if number else None
            )
            url = (tracking.url if tracking else None) or tracking_url_for(company, number)
            fulfillment = Fulfillment(
                id=self.ids.next("fulfillment"),
                order_id=order.id,
                location_id=fos[0].assigned_location_id,
                name=f"{order.name}.{len(order.fulfillments) + 1}",
                status="success",
                lines=[
                    FulfillmentLine(line.line_item_id, quantity, line.fulfillment_order_id, line.id)
                    for line, quantity in planned
                ],
                created_at=at,
                updated_at=at,
                tracking_company=company,
                tracking_numbers=[number] if number else [],
                tracking_urls=[url] if url else [],
                notify_customer=notify_customer,
                message=message,
                source=source,
            )
            for line, quantity in planned:
                line.fulfillable_quantity -= quantity
            for fo in fos:
                fo.status = (
                    "closed"
                    if all(line.fulfillable_quantity == 0 for line in fo.lines)
                    else "in_progress"
                )
                fo.updated_at = at
            order.fulfillments.append(fulfillment)
            self.fulfillment_index[fulfillment.id] = order.id
            if source == "api":
                self.shipments.append(ShipmentRecord(fulfillment.id, order.id, at))
            self._touch(order, at)
            self._event(
                order, "fulfillment_success", f"Fulfillment {fulfillment.name} was created.", at
            )
            self._emit(
                DomainEvent(
                    "fulfillments/create",
                    "fulfillment",
                    at,
                    order_id=order.id,
                    fulfillment_id=fulfillment.id,
                )
            )
            self._emit(DomainEvent("orders/updated", "order", at, order_id=order.id))
            status = order.fulfillment_status
            if status == "fulfilled":
                self._emit(DomainEvent("orders/fulfilled", "order", at, order_id=order.id))
            elif status == "partial":
                self._emit(
                    DomainEvent("orders/partially_fulfilled", "order", at, order_id=order.id)
                )
            return fulfillment

    def fulfill_lines(
        self,
        order_id: int,
        lines: list[tuple[int, int]] | None,
        *,
        tracking: TrackingInfo | None = None,
        source: str = "sandbox",
        at: datetime | None = None,
    ) -> Fulfillment:
        """Fulfill by order line item ids (control API convenience); None = all remaining."""
        with self.lock:
            order = self.order(order_id)
            fos = [
                fo
                for fo in self.fulfillment_orders_of(order)
                if fo.status in ("open", "in_progress")
            ]
            if not fos:
                raise invalid("base", "Order has nothing left to fulfill")
            if lines is None:
                requests = [FulfillmentRequest(fo.id) for fo in fos]
            else:
                grouped: dict[int, list[tuple[int, int]]] = {}
                for line_item_id, quantity in lines:
                    order.line(line_item_id)
                    remaining = quantity
                    for fo in fos:
                        for fo_line in fo.lines:
                            if (
                                fo_line.line_item_id == line_item_id
                                and fo_line.fulfillable_quantity > 0
                                and remaining > 0
                            ):
                                take = min(remaining, fo_line.fulfillable_quantity)
                                grouped.setdefault(fo.id, []).append((fo_line.id, take))
                                remaining -= take
                    if remaining > 0:
                        raise invalid(
                            "line_items",
                            f"Line item {line_item_id} has fewer than {quantity} units left to fulfill",
                        )
                requests = [FulfillmentRequest(fo_id, items) for fo_id, items in grouped.items()]
            return self.fulfill(requests, tracking=tracking, source=source, at=at)

    def update_tracking(
        self, fulfillment_id: int, tracking: TrackingInfo, *, notify_customer: bool = False
    ) -> Fulfillment:
        with self.lock:
            order, fulfillment = self.fulfillment(fulfillment_id)
            at = self.now()
            number = tracking.number
            company = (
                tracking.company
                or (infer_carrier(number) if number else None)
                or fulfillment.tracking_company
            )
            url = tracking.url or tracking_url_for(company, number)
            fulfillment.tracking_company = company
            fulfillment.tracking_numbers = [number] if number else []
            fulfillment.tracking_urls = [url] if url else []
            fulfillment.notify_customer = notify_customer
            fulfillment.updated_at = at
            self._touch(order, at)
            self._emit(
                DomainEvent(
                    "fulfillments/update",
                    "fulfillment",
                    at,
                    order_id=order.id,
                    fulfillment_id=fulfillment.id,
                )
            )
            return fulfillment

    def cancel_fulfillment(self, fulfillment_id: int) -> Fulfillment:
        with self.lock:
            order, fulfillment = self.fulfillment(fulfillment_id)
            if fulfillment.status == "cancelled":
                raise invalid("base", "Fulfillment is already cancelled")
            at = self.now()
            fulfillment.status = "cancelled"
            fulfillment.updated_at = at
            for line in fulfillment.lines:
                fo = self.fulfillment_orders.get(line.fulfillment_order_id)
                if fo is None:
                    continue
                for fo_line in fo.lines:
                    if fo_line.id == line.fulfillment_order_line_id:
                        fo_line.fulfillable_quantity = min(
                            fo_line.quantity, fo_line.fulfillable_quantity + line.quantity
                        )
                if fo.status in ("closed", "in_progress") and order.cancelled_at is None:
                    fo.status = (
                        "open"
                        if all(fl.fulfillable_quantity == fl.quantity for fl in fo.lines)
                        else "in_progress"
                    )
                    fo.updated_at = at
            self._touch(order, at)
            self._event(
                order, "fulfillment_cancelled", f"Fulfillment {fulfillment.name} was cancelled.", at
            )
            self._emit(
                DomainEvent(
                    "fulfillments/update",
                    "fulfillment",
                    at,
                    order_id=order.id,
                    fulfillment_id=fulfillment.id,
                )
            )
            self._emit(DomainEvent("orders/updated", "order", at, order_id=order.id))
            return fulfillment

    def _remove_unfulfilled(
        self, order: Order, line_item_id: int, quantity: int, at: datetime
    ) -> None:
        """Take refunded, never-fulfilled units off the fulfillment orders."""
        remaining = quantity
        for fo in self.fulfillment_orders_of(order):
            for fo_line in fo.lines:
                if fo_line.line_item_id != line_item_id or remaining <= 0:
                    continue
                take = min(remaining, fo_line.fulfillable_quantity)
                fo_line.fulfillable_quantity -= take
                fo_line.quantity -= take
                remaining -= take
            if fo.status in ("open", "in_progress") and all(
                line.fulfillable_quantity == 0 for line in fo.lines
            ):
                fo.status = "closed"
                fo.updated_at = at

    def plan_refund(
        self,
        order: Order,
        lines: list[RefundLineRequest],
        shipping: Decimal | Literal["full"] | None,
    ) -> RefundPlan:
        """Validate and price a refund without applying it (also ``refunds/calculate``)."""
        planned: list[PlannedRefundLine] = []
        seen: dict[int, int] = {}
        for request in lines:
            line = order.line(request.line_item_id)
            already = seen.get(line.id, 0)
            current = order.current_quantity(line.id) - already
            if request.quantity < 1 or request.quantity > current:
                raise invalid(
                    "refund_line_items",
                    f"Quantity {request.quantity} of line item {line.id} exceeds the {current} left to refund",
                )
            seen[line.id] = already + request.quantity
            unit_net = (line.gross - line.discount) / line.quantity
            location_id = request.location_id or self.primary_location_id
            planned.append(
                PlannedRefundLine(
                    line_item_id=line.id,
                    quantity=request.quantity,
                    restock_type=request.restock_type,
                    location_id=location_id if request.restock_type != "no_restock" else None,
                    subtotal=cents(unit_net * request.quantity),
                    total_tax=cents(line.tax * request.quantity / line.quantity),
                    discount=cents(line.discount * request.quantity / line.quantity),
                )
            )
        totals = order.totals()
        already_refunded = sum(
            (
                a.amount
                for r in order.refunds
                for a in r.order_adjustments
                if a.kind == "shipping_refund"
            ),
            ZERO,
        )
        shipping_left = totals.shipping_price - totals.shipping_discounts - already_refunded
        wanted = ZERO
        if shipping is not None:
            wanted = shipping_left if shipping == "full" else cents(shipping)
            if wanted < 0 or wanted > shipping_left:
                raise invalid(
                    "shipping", f"Shipping refund exceeds the {shipping_left} left to refund"
                )
        due = (
            sum(
                (
                    item.subtotal + (ZERO if order.taxes_included else item.total_tax)
                    for item in planned
                ),
                ZERO,
            )
            + wanted
        )
        return RefundPlan(
            lines=planned,
            shipping=wanted,
            shipping_left=shipping_left,
            due=cents(due),
            refundable=cents(totals.captured - totals.refunded),
        )

    def refund(
        self,
        order_id: int,
        lines: list[RefundLineRequest],
        *,
        shipping: Decimal | Literal["full"] | None = None,
        amount: Decimal | None = None,
        note: str | None = None,
        source: str = "api",
        at: datetime | None = None,
        _emit_order_update: bool = True,
    ) -> Refund:
        """Refund line items (and/or shipping), returning money that was captured."""
        with self.lock:
            order = self.order(order_id)
            at = whole_seconds(at) if at else self.now()
            plan = self.plan_refund(order, lines, shipping)
            refund_id = self.ids.next("refund")
            refund_lines = [
                RefundLineItem(
                    id=self.ids.next("refund_line_item"),
                    line_item_id=item.line_item_id,
                    quantity=item.quantity,
                    restock_type=item.restock_type,
                    location_id=item.location_id,
                    subtotal=item.subtotal,
                    total_tax=item.total_tax,
                )
                for item in plan.lines
            ]
            adjustments: list[OrderAdjustment] = []
            if plan.shipping > 0:
                adjustments.append(
                    OrderAdjustment(
                        self.ids.next("order_adjustment"),
                        refund_id,
                        plan.shipping,
                        ZERO,
                        "shipping_refund",
                        "Shipping refund",
                    )
                )
            due, refundable = plan.due, plan.refundable
            transactions: list[Transaction] = []
            value = cents(amount) if amount is not None else min(due, refundable)
            if value > refundable:
                raise invalid(
                    "transactions", f"Amount {value} exceeds the {refundable} available for refund"
                )
            if not refund_lines and not adjustments and value <= 0:
                raise invalid("base", "Refund must include line items, shipping or an amount")
            refund = Refund(
                id=refund_id,
                order_id=order.id,
                created_at=at,
                processed_at=at,
                note=note,
                restock=any(rli.restock_type != "no_restock" for rli in refund_lines),
                refund_line_items=refund_lines,
                transactions=transactions,
                order_adjustments=adjustments,
                source=source,
            )
            unfulfilled_before = {
                rli.line_item_id: order.fulfillable_quantity(rli.line_item_id)
                for rli in refund_lines
            }
            if value > 0:
                parent = next(
                    (
                        t
                        for t in order.transactions
                        if t.kind in ("sale", "capture") and t.status == "success"
                    ),
                    None,
                )
                transactions.append(
                    self._transaction(order, "refund", value, parent.id if parent else None, at)
                )
            if amount is not None and value > due:
                refund.order_adjustments.append(
                    OrderAdjustment(
                        self.ids.next("order_adjustment"),
                        refund_id,
                        value - due,
                        ZERO,
                        "refund_discrepancy",
                        "Refund discrepancy",
                    )
                )
            order.refunds.append(refund)
            for rli in refund_lines:
                removed = min(rli.quantity, unfulfilled_before.get(rli.line_item_id, 0))
                if removed:
                    self._remove_unfulfilled(order, rli.line_item_id, removed, at)
                line = order.line(rli.line_item_id)
                if (
                    rli.restock_type != "no_restock"
                    and line.inventory_item_id is not None
                    and rli.location_id is not None
                ):
                    level = self.levels.get((line.inventory_item_id, rli.location_id))
                    if level is not None:
                        self._level_change(level, rli.quantity, at)
            self._touch(order, at)
            self._emit(
                DomainEvent("refunds/create", "refund", at, order_id=order.id, refund_id=refund.id)
            )
            if _emit_order_update:
                self._emit(DomainEvent("orders/updated", "order", at, order_id=order.id))
            return refund

    def cancel_order(
        self,
        order_id: int,
        *,
        reason: str = "other",
        restock: bool = True,
        refund: bool = True,
        at: datetime | None = None,
    ) -> Order:
        """Cancel an order: void or refund payment, release stock, close fulfillment orders."""
        reasons = ("customer", "fraud", "inventory", "declined", "staff", "other")
        if reason not in reasons:
            raise invalid("reason", f"must be one of {', '.join(reasons)}")
        with self.lock:
            order = self.order(order_id)
            at = whole_seconds(at) if at else self.now()
            if order.cancelled_at is not None:
                raise invalid("base", "Order has already been cancelled")
            if any(f.status == "success" for f in order.fulfillments):
                raise invalid("base", "Cannot cancel an order that has fulfillments")
            totals = order.totals()
            status = order.financial_status
            lines = [
                RefundLineRequest(
                    line.id, order.current_quantity(line.id), "cancel" if restock else "no_restock"
                )
                for line in order.line_items
                if order.current_quantity(line.id) > 0
            ]
            captured_net = totals.captured - totals.refunded
            if lines or (refund and captured_net > 0):
                self.refund(
                    order.id,
                    lines,
                    shipping="full"
                    if totals.shipping_price - totals.shipping_discounts > 0
                    else None,
                    amount=captured_net if refund else ZERO,
                    note="Order cancelled",
                    source="cancel",
                    at=at,
                    _emit_order_update=False,
                )
            if status == "authorized":
                auth = next(
                    t
                    for t in order.transactions
                    if t.kind == "authorization" and t.status == "success"
                )
                self._transaction(order, "void", auth.amount, auth.id, at)
            elif status == "pending":
                self._transaction(order, "void", totals.total_price, None, at)
            order.cancelled_at = at
            order.cancel_reason = reason
            order.restocked_on_cancel = restock
            for fo in self.fulfillment_orders_of(order):
                fo.status = "cancelled" if fo.status != "closed" else fo.status
                fo.updated_at = at
            self._touch(order, at)
            self._event(order, "cancelled", f"Order {order.name} was cancelled.", at, reason)
            self._emit(DomainEvent("orders/cancelled", "order", at, order_id=order.id))
            self._emit(DomainEvent("orders/updated", "order", at, order_id=order.id))
            return order

    def close_order(self, order_id: int, *, at: datetime | None = None) -> Order:
        with self.lock:
            order = self.order(order_id)
            at = whole_seconds(at) if at else self.now()
            if order.closed_at is None:
                order.closed_at = at
                self._touch(order, at)
                self._event(order, "closed", f"Order {order.name} was archived.", at)
                self._emit(DomainEvent("orders/updated", "order", at, order_id=order.id))
            return order

    def reopen_order(self, order_id: int) -> Order:
        with self.lock:
            order = self.order(order_id)
            at = self.now()
            if order.closed_at is not None:
                order.closed_at = None
                self._touch(order, at)
                self._event(order, "reopened", f"Order {order.name} was unarchived.", at)
                self._emit(DomainEvent("orders/updated", "order", at, order_id=order.id))
            return order

    def update_order(
        self,
        order_id: int,
        *,
        note: str | None = None,
        tags: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        note_attributes: list[dict[str, str]] | None = None,
        buyer_accepts_marketing: bool | None = None,
    ) -> Order:
        with self.lock:
            order = self.order(order_id)
            at = self.now()
            changed = False
            if note is not None and note != order.note:
                order.note, changed = note, True
            if tags is not None and tags != order.tags:
                order.tags, changed = (
                    ", ".join(t.strip() for t in tags.split(",") if t.strip()),
                    True,
                )
            if email is not None and email != order.email:
                order.email, changed = email, True
            if phone is not None and phone != order.phone:
                order.phone, changed = phone, True
            if note_attributes is not None and note_attributes != order.note_attributes:
                order.note_attributes, changed = note_attributes, True
            if (
                buyer_accepts_marketing is not None
                and buyer_accepts_marketing != order.buyer_accepts_marketing
            ):
                order.buyer_accepts_marketing, changed = buyer_accepts_marketing, True
            if changed:
                self._touch(order, at)
                self._emit(DomainEvent("orders/updated", "order", at, order_id=order.id))
            return order

    def delete_order(self, order_id: int) -> None:
        with self.lock:
            order = self.order(order_id)
            at = self.now()
            self._event(order, "destroy", f"Order {order.name} was deleted.", at)
            for fo_id in order.fulfillment_order_ids:
                self.fulfillment_orders.pop(fo_id, None)
            for fulfillment in order.fulfillments:
                self.fulfillment_index.pop(fulfillment.id, None)
            del self.orders[order.id]
            self.deleted_order_ids.add(order.id)
            self._emit(DomainEvent("orders/delete", "deleted_order", at, order_id=order.id))

    # webhooks ----------------------------------------------------------------------

    def create_webhook(
        self, topic: str, address: str, fields: list[str], api_version: str
    ) -> Webhook:
        with self.lock:
            self._validate_webhook(topic, address, exclude=None)
            at = self.now()
            webhook = Webhook(self.ids.next("webhook"), address, topic, fields, api_version, at, at)
            self.webhooks[webhook.id] = webhook
            return webhook

    def update_webhook(
        self, webhook_id: int, *, address: str | None, fields: list[str] | None, topic: str | None
    ) -> Webhook:
        with self.lock:
            webhook = self.webhooks.get(webhook_id)
            if webhook is None:
                raise NotFoundError(f"webhook {webhook_id}")
            self._validate_webhook(
                topic or webhook.topic, address or webhook.address, exclude=webhook_id
            )
            webhook.address = address or webhook.address
            webhook.topic = topic or webhook.topic
            if fields is not None:
                webhook.fields = fields
            webhook.updated_at = self.now()
            return webhook

    def delete_webhook(self, webhook_id: int) -> None:
        with self.lock:
            if self.webhooks.pop(webhook_id, None) is None:
                raise NotFoundError(f"webhook {webhook_id}")

    def _validate_webhook(self, topic: str, address: str, *, exclude: int | None) -> None:
        errors: dict[str, list[str]] = {}
        if topic not in ACCEPTED_TOPICS:
            errors["topic"] = [
                f"Invalid topic specified: {topic}. Topics allowed: {', '.join(sorted(ACCEPTED_TOPICS))}"
            ]
        if not (address.startswith("https://") or address.startswith("http://")):
            errors.setdefault("address", []).append("is invalid")
        for webhook in self.webhooks.values():
            if webhook.id != exclude and webhook.topic == topic and webhook.address == address:
                errors.setdefault("address", []).append("for this topic has already been taken")
        if errors:
            raise InvalidError(errors)
