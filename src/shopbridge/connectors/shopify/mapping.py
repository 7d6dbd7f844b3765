"""Shopify REST order payload -> unified `Order`. Pure functions: no I/O, no clock, no state.

Reading rules:

- **Money** is read in the order's `currency` (the shop currency): the plain decimal-string
  field (`total_price`), or the `shop_money` half of its `*_set` bag when the plain field is
  absent (`total_shipping_price_set` has no plain twin). A JSON number where Shopify sends a
  string is refused (`MappingError`), never converted through a float. Presentment-currency
  figures (what the buyer saw) go to `extensions["presentment"]`.
- **Times** are ISO-8601 strings with an offset (`2026-11-10T19:00:05-05:00`), converted to
  UTC; a timestamp without an offset is an error, not a guess.
- **Ids** are JSON integers (int64); they become strings.
- **Personal data** (names, phones, e-mails, street lines, postcodes) only goes into the typed
  `Sensitive` fields of `buyer` and `receiver`, never into `extensions` or error messages.
- Everything else stays in `raw` (the untouched payload); notable platform fields are copied
  to `extensions` under their Shopify names.

A payload the mapping cannot read raises `MappingError` whose message names the JSON path and
the reason (`$.line_items[2].price: amount is a JSON number, not a decimal string`) and never
the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, NoReturn

from pydantic import ValidationError

from shopbridge.connectors.errors import MappingError
from shopbridge.connectors.shopify import statuses
from shopbridge.connectors.shopify.carriers import unified_carrier_code
from shopbridge.core import (
    Address,
    Discount,
    DiscountKind,
    DiscountScope,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Party,
    PaymentSummary,
    PiiForm,
    PresaleInfo,
    PresaleStage,
    RefundStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    to_utc,
)

__all__ = [
    "KNOWN_ORDER_FIELDS",
    "MAPPED_ORDER_FIELDS",
    "map_order",
    "order_id_of",
    "parse_timestamp",
    "unknown_order_fields",
]

PLATFORM: Final = "shopify"

MAPPED_ORDER_FIELDS: Final = frozenset(
    {
        "id",
        "currency",
        "presentment_currency",
        "financial_status",
        "fulfillment_status",
        "cancelled_at",
        "cancel_reason",
        "closed_at",
        "created_at",
        "updated_at",
        "processed_at",
        "line_items",
        "shipping_lines",
        "discount_applications",
        "discount_codes",
        "fulfillments",
        "refunds",
        "customer",
        "shipping_address",
        "email",
        "contact_email",
        "phone",
        "note",
        "tags",
        "payment_gateway_names",
        "payment_terms",
        "taxes_included",
        "total_price",
        "total_price_set",
        "subtotal_price",
        "subtotal_price_set",
        "total_line_items_price",
        "total_line_items_price_set",
        "total_discounts",
        "total_discounts_set",
        "total_tax",
        "total_tax_set",
        "total_shipping_price_set",
        "total_outstanding",
        "total_tip_received",
        "current_total_price",
        "current_subtotal_price",
        "current_total_tax",
        "current_total_discounts",
        "tax_lines",
        "name",
        "order_number",
        "admin_graphql_api_id",
        "confirmation_number",
        "source_name",
        "test",
        "confirmed",
        "estimated_taxes",
        "duties_included",
        "tax_exempt",
        "customer_locale",
        "location_id",
        "app_id",
        "user_id",
        "total_weight",
        "po_number",
        "source_identifier",
        "merchant_of_record_app_id",
    }
)
"""Top-level order fields the mapping reads (into unified fields or `extensions`)."""

KNOWN_ORDER_FIELDS: Final = MAPPED_ORDER_FIELDS | frozenset(
    {
        "billing_address",
        "browser_ip",
        "buyer_accepts_marketing",
        "cart_token",
        "checkout_id",
        "checkout_token",
        "client_details",
        "company",
        "current_shipping_price_set",
        "current_subtotal_price_set",
        "current_total_additional_fees_set",
        "current_total_discounts_set",
        "current_total_duties_set",
        "current_total_price_set",
        "current_total_tax_set",
        "device_id",
        "landing_site",
        "landing_site_ref",
        "merchant_business_entity_id",
        "note_attributes",
        "number",
        "order_status_url",
        "original_total_additional_fees_set",
        "original_total_duties_set",
        "reference",
        "referring_site",
        "source_url",
        "token",
        "total_cash_rounding_payment_adjustment_set",
        "total_cash_rounding_refund_adjustment_set",
        "total_price_usd",
        "gateway",
        "processing_method",
        "line_item_groups",
        "returns",
    }
)
"""Every top-level field this mapping knows, read or deliberately left in `raw` only (billing
address, browser and marketing data, checkout tokens, note attributes, which may hold
personal data). A field outside this set is new: it is kept in `raw` and reported by
`unknown_order_fields` so the operator sees it."""

_ORDER_EXTENSION_FIELDS: Final = (
    "name",
    "order_number",
    "admin_graphql_api_id",
    "confirmation_number",
    "source_name",
    "source_identifier",
    "test",
    "confirmed",
    "financial_status",
    "fulfillment_status",
    "cancel_reason",
    "closed_at",
    "processed_at",
    "presentment_currency",
    "taxes_included",
    "estimated_taxes",
    "duties_included",
    "tax_exempt",
    "customer_locale",
    "location_id",
    "app_id",
    "user_id",
    "merchant_of_record_app_id",
    "total_weight",
    "po_number",
    "subtotal_price",
    "total_outstanding",
    "total_tip_received",
    "current_total_price",
    "current_subtotal_price",
    "current_total_tax",
    "current_total_discounts",
)
"""Scalar order fields copied verbatim to `extensions` (none is personal data)."""

_LINE_EXTENSION_FIELDS: Final = (
    "admin_graphql_api_id",
    "name",
    "vendor",
    "fulfillment_service",
    "fulfillment_status",
    "fulfillable_quantity",
    "current_quantity",
    "requires_shipping",
    "taxable",
    "gift_card",
    "grams",
    "product_exists",
    "variant_inventory_management",
)

_PRESENTMENT_TOTALS: Final = (
    ("total_price", "total_price_set"),
    ("subtotal_price", "subtotal_price_set"),
    ("total_line_items_price", "total_line_items_price_set"),
    ("total_discounts", "total_discounts_set"),
    ("total_tax", "total_tax_set"),
    ("total_shipping_price", "total_shipping_price_set"),
    ("current_total_price", "current_total_price_set"),
)

_DISCOUNT_KINDS: Final[Mapping[str, DiscountKind]] = {
    "discount_code": DiscountKind.COUPON,
    "automatic": DiscountKind.PROMOTION,
    "script": DiscountKind.PROMOTION,
    "manual": DiscountKind.SELLER_ADJUSTMENT,
}

_PAID_STATES: Final = frozenset(
    {"authorized", "partially_paid", "paid", "partially_refunded", "refunded"}
)
_INACTIVE_FULFILLMENT_ORDER_STATUSES: Final = frozenset({"closed", "cancelled", "incomplete"})


# --------------------------------------------------------------------------- reading helpers


def _fail(path: str, reason: str) -> NoReturn:
    raise MappingError(f"{path}: {reason}", path=path, platform=PLATFORM)


def parse_timestamp(value: object, path: str) -> datetime:
    """A Shopify ISO-8601 timestamp with offset, as an aware UTC datetime."""
    if not isinstance(value, str):
        _fail(path, "timestamp must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        _fail(path, "not an ISO-8601 timestamp")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        _fail(path, "timestamp has no UTC offset")
    try:
        return to_utc(parsed)
    except ValueError:
        _fail(path, "timestamp out of range")


def _amount(value: object, path: str, currency: str) -> Money:
    if isinstance(value, float):
        _fail(path, "amount is a JSON number, not a decimal string")
    if isinstance(value, bool) or not isinstance(value, str | int):
        _fail(path, "amount must be a decimal string")
    try:
        return Money.from_major(value, currency)
    except ValueError:
        _fail(path, "not a valid decimal amount")


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

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def id(self, key: str) -> str:
        value = self.opt_id(key)
        if value is None:
            _fail(self.at(key), "required id is missing")
        return value

    def opt_id(self, key: str) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            _fail(self.at(key), "id must be an integer or a string")
        if isinstance(value, int):
            if value < 0:
                _fail(self.at(key), "id must not be negative")
            return str(value)
        if isinstance(value, str):
            text = value.strip()
            if not text or len(text) > 255:
                _fail(self.at(key), "id must be 1 to 255 characters")
            return text
        _fail(self.at(key), "id must be an integer or a string")

    def opt_str(self, key: str) -> str | None:
        """A string field; empty or whitespace-only reads as absent."""
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            _fail(self.at(key), "must be a string")
        return value if value.strip() else None

    def opt_bool(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            _fail(self.at(key), "must be a boolean")
        return value

    def opt_int(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(self.at(key), "must be an integer")
        return value

    def time(self, key: str) -> datetime:
        if not self.has(key):
            _fail(self.at(key), "required timestamp is missing")
        return parse_timestamp(self.data[key], self.at(key))

    def opt_time(self, key: str) -> datetime | None:
        return parse_timestamp(self.data[key], self.at(key)) if self.has(key) else None

    def obj(self, key: str) -> _Node | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            _fail(self.at(key), "must be a JSON object")
        return _Node(value, self.at(key))

    def objs(self, key: str) -> list[_Node]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            _fail(self.at(key), "must be a JSON array")
        nodes: list[_Node] = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                _fail(f"{self.at(key)}[{index}]", "must be a JSON object")
            nodes.append(_Node(item, f"{self.at(key)}[{index}]"))
        return nodes

    def opt_money(self, key: str, currency: str) -> Money | None:
        """`key` as a decimal string, else the shop-money half of `key_set`."""
        if self.has(key):
            return _amount(self.data[key], self.at(key), currency)
        bag = self.obj(f"{key}_set")
        if bag is None:
            return None
        shop = bag.obj("shop_money")
        if shop is None:
            _fail(bag.at("shop_money"), "money bag has no shop_money")
        code = shop.get("currency_code")
        if code is not None and code != currency:
            _fail(shop.at("currency_code"), f"shop money is not in the order currency {currency}")
        if not shop.has("amount"):
            _fail(shop.at("amount"), "required amount is missing")
        return _amount(shop.data["amount"], shop.at("amount"), currency)

    def money(self, key: str, currency: str) -> Money:
        value = self.opt_money(key, currency)
        if value is None:
            _fail(self.at(key), "required amount is missing")
        return value

    def presentment_amount(self, key: str) -> tuple[str, str] | None:
        """(amount, currency) of the presentment half of a `*_set` bag, verbatim."""
        bag = self.data.get(key)
        if not isinstance(bag, dict):
            return None
        money = bag.get("presentment_money")
        if not isinstance(money, dict):
            return None
        amount, code = money.get("amount"), money.get("currency_code")
        if isinstance(amount, str) and isinstance(code, str):
            return amount, code
        return None


def _json_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _copy_scalars(node: _Node, keys: Iterable[str]) -> dict[str, Any]:
    return {
        key: node.data[key]
        for key in keys
        if node.data.get(key) is not None and _json_scalar(node.data[key])
    }


# --------------------------------------------------------------------------- public helpers


def order_id_of(payload: object) -> str | None:
    """The order id of a payload, when it can be read at all (for `UnmappedOrder`)."""
    if not isinstance(payload, dict):
        return None
    try:
        return _Node(payload, "$").opt_id("id")
    except MappingError:
        return None


def unknown_order_fields(payload: Mapping[str, Any]) -> list[str]:
    """Top-level fields the mapping has never heard of (new platform fields), sorted."""
    return sorted(key for key in payload if key not in KNOWN_ORDER_FIELDS)


# --------------------------------------------------------------------------- the mapping


def map_order(
    payload: object,
    *,
    shop_id: str,
    fulfillment_orders: Sequence[Mapping[str, Any]] | None = None,
) -> Order:
    """Map one REST order (`orders.json` element, `orders/{id}.json` `order`, or an `orders/*`
    webhook body) to an `Order`.

    `fulfillment_orders` (optional, from `orders/{id}/fulfillment_orders.json`) lets the
    mapping see holds, which the order payload does not show: when every unfulfilled item
    is on hold or scheduled, an order awaiting shipment becomes `on_hold`.
    """
    if not isinstance(payload, dict):
        _fail("$", "order payload must be a JSON object")
    o = _Node(payload, "$")
    o.id("id")
    currency = o.get("currency")
    if (
        not isinstance(currency, str)
        or len(currency) != 3
        or not currency.isalpha()
        or not currency.isupper()
    ):
        _fail(o.at("currency"), "required ISO 4217 currency code is missing or malformed")
    try:
        return _map_order(o, payload, shop_id, currency, fulfillment_orders)
    except ValidationError as exc:
        raise _model_error(exc) from None


def _model_error(exc: ValidationError) -> MappingError:
    """The unified model refused what the mapping built: report where, never the input."""
    error = exc.errors(include_input=False, include_url=False)[0]
    path = "Order." + ".".join(str(part) for part in error["loc"]) if error["loc"] else "Order"
    return MappingError(
        f"{path}: rejected by the unified model ({error['msg']})", path=path, platform=PLATFORM
    )


def _map_order(
    o: _Node,
    payload: dict[str, Any],
    shop_id: str,
    currency: str,
    fulfillment_orders: Sequence[Mapping[str, Any]] | None,
) -> Order:
    financial = o.opt_str("financial_status")
    fulfillment = o.opt_str("fulfillment_status")
    cancelled_at = o.opt_time("cancelled_at")
    closed_at = o.opt_time("closed_at")
    has_terms = o.obj("payment_terms") is not None
    held = _held(fulfillment_orders)
    flags = {
        "cancelled": cancelled_at is not None,
        "closed": closed_at is not None,
        "payment_terms": has_terms,
        "held": held,
    }
    status = statuses.order_status(financial, fulfillment, **flags)
    refunds = o.objs("refunds")
    refund_pending = any(
        t.get("kind") == "refund" and t.get("status") == "pending"
        for refund in refunds
        for t in refund.objs("transactions")
    )
    refund_status = statuses.refund_status(financial, refund_pending=refund_pending)
    native_refund = f"financial_status={financial if financial is not None else 'null'}"
    if refund_pending:
        native_refund += ";refund_transaction=pending"

    taxes_included = o.opt_bool("taxes_included") is True
    applications = o.objs("discount_applications")
    refunded_qty = _refunded_quantities(refunds)
    line_nodes = o.objs("line_items")
    lines = [
        _map_line(node, currency, taxes_included=taxes_included, refunded=refunded_qty)
        for node in line_nodes
    ]
    shipping_nodes = o.objs("shipping_lines")
    discounts = _discounts(o, applications, line_nodes, shipping_nodes, currency)

    total = o.money("total_price", currency)
    shipping_fee = o.opt_money("total_shipping_price", currency)
    if shipping_fee is None and shipping_nodes:
        shipping_fee = Money.sum(
            (node.money("price", currency) for node in shipping_nodes), currency
        )
    outstanding = o.opt_money("total_outstanding", currency)
    shipments = [_map_fulfillment(node) for node in o.objs("fulfillments")]

    placed_at = o.time("created_at")
    shipped_at = None
    if status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED):
        times = [
            s.shipped_at
            for s in shipments
            if s.shipped_at is not None
            and s.status not in (ShipmentStatus.CANCELLED, ShipmentStatus.EXCEPTION)
        ]
        shipped_at = max(times) if times else None

    return Order(
        shop_id=shop_id,
        platform=PLATFORM,
        platform_order_id=o.id("id"),
        status=status,
        native_status=statuses.native_order_status(financial, fulfillment, **flags),
        refund_status=refund_status,
        native_refund_status=native_refund,
        currency=currency,
        lines=lines,
        buyer=_buyer(o),
        receiver=_receiver(o),
        payment=_payment(o, financial, total, outstanding),
        discounts=discounts,
        subtotal=o.opt_money("total_line_items_price", currency),
        shipping_fee=shipping_fee,
        discount_total=o.opt_money("total_discounts", currency),
        tax_total=o.opt_money("total_tax", currency),
        total=total,
        presale=_presale(status, total, outstanding),
        placed_at=placed_at,
        paid_at=None,
        shipped_at=shipped_at,
        completed_at=closed_at if status is OrderStatus.COMPLETED else None,
        cancelled_at=cancelled_at,
        platform_updated_at=o.opt_time("updated_at"),
        buyer_note=o.opt_str("note"),
        shipments=shipments,
        tags=_tags(o),
        extensions=_order_extensions(o, currency),
        raw=payload,
    )


def _held(fulfillment_orders: Sequence[Mapping[str, Any]] | None) -> bool:
    """Every fulfillment order that still has work is on hold or scheduled."""
    if not fulfillment_orders:
        return False
    active = [
        fo.get("status")
        for fo in fulfillment_orders
        if fo.get("status") not in _INACTIVE_FULFILLMENT_ORDER_STATUSES
    ]
    return bool(active) and all(
        status in statuses.HELD_FULFILLMENT_ORDER_STATUSES for status in active
    )


def _refunded_quantities(refunds: list[_Node]) -> dict[str, int]:
    quantities: dict[str, int] = {}
    for refund in refunds:
        for item in refund.objs("refund_line_items"):
            line_id = item.opt_id("line_item_id")
            quantity = item.opt_int("quantity")
            if line_id is not None and quantity is not None and quantity > 0:
                quantities[line_id] = quantities.get(line_id, 0) + quantity
    return quantities


def _sum(amounts: Iterable[Money], currency: str) -> Money | None:
    items = list(amounts)
    return Money.sum(items, currency) if items else None


def _map_line(
    node: _Node, currency: str, *, taxes_included: bool, refunded: Mapping[str, int]
) -> OrderLine:
    line_id = node.id("id")
    title = node.opt_str("title") or node.opt_str("name")
    if title is None:
        _fail(node.at("title"), "required line title is missing")
    quantity = node.opt_int("quantity")
    if quantity is None or quantity <= 0:
        _fail(node.at("quantity"), "quantity must be a positive integer")
    unit_price = node.money("price", currency)
    allocations = node.objs("discount_allocations")
    if allocations:
        discount = _sum((a.money("amount", currency) for a in allocations), currency)
    else:
        legacy = node.opt_money("total_discount", currency)
        discount = legacy if legacy is not None and legacy.amount != 0 else None
    tax = _sum((t.money("price", currency) for t in node.objs("tax_lines")), currency)
    total = Money(amount=unit_price.amount * quantity, currency=currency)
    if discount is not None:
        total = total - discount
    if tax is not None and not taxes_included:
        total = total + tax

    fulfillment = node.opt_str("fulfillment_status")
    if fulfillment in statuses.LINE_STATUS_MAP:
        line_status = statuses.LINE_STATUS_MAP[fulfillment]
    else:
        line_status = OrderStatus.UNKNOWN
    refunded_qty = refunded.get(line_id, 0)
    if refunded_qty >= quantity:
        refund_status = RefundStatus.REFUNDED
    elif refunded_qty > 0:
        refund_status = RefundStatus.PARTIALLY_REFUNDED
    else:
        refund_status = RefundStatus.NONE

    extensions = _copy_scalars(node, _LINE_EXTENSION_FIELDS)
    presentment = node.presentment_amount("price_set")
    if presentment is not None and presentment[1] != currency:
        extensions["presentment_price"] = {"amount": presentment[0], "currency": presentment[1]}
    return OrderLine(
        native_id=line_id,
        sku=node.opt_str("sku"),
        platform_product_id=node.opt_id("product_id"),
        platform_variant_id=node.opt_id("variant_id"),
        title=title,
        variant_title=node.opt_str("variant_title"),
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
        tax=tax,
        total=total,
        status=line_status,
        native_status=fulfillment,
        refund_status=refund_status,
        native_refund_status=f"refunded_quantity={refunded_qty}" if refunded_qty else None,
        extensions=extensions,
    )


def _discounts(
    o: _Node,
    applications: list[_Node],
    line_nodes: list[_Node],
    shipping_nodes: list[_Node],
    currency: str,
) -> list[Discount]:
    """One `Discount` per discount application and target.

    Amounts come from the allocations (what Shopify actually took off each line or shipping
    line). An application over all lines (`target_selection=all`) is one order-level
    discount; one aimed at particular lines (`entitled`/`explicit`) is one discount per line;
    one on shipping lines is a shipping discount.
    """
    totals: dict[tuple[int | None, DiscountScope, str | None], Decimal] = {}

    def add(allocation: _Node, default_scope: DiscountScope, line_id: str | None) -> None:
        index = allocation.opt_int("discount_application_index")
        app = applications[index] if index is not None and 0 <= index < len(applications) else None
        scope = default_scope
        if scope is DiscountScope.LINE and app is not None and app.get("target_selection") == "all":
            scope = DiscountScope.ORDER
        key = (
            index if app is not None else None,
            scope,
            line_id if scope is DiscountScope.LINE else None,
        )
        amount = allocation.money("amount", currency).amount
        totals[key] = totals.get(key, Decimal(0)) + amount

    for node in line_nodes:
        line_id = node.id("id")
        for allocation in node.objs("discount_allocations"):
            add(allocation, DiscountScope.LINE, line_id)
    for node in shipping_nodes:
        for allocation in node.objs("discount_allocations"):
            add(allocation, DiscountScope.SHIPPING, None)

    discounts: list[Discount] = []
    for (index, scope, target_line), amount in totals.items():
        if amount == 0:
            continue
        app = applications[index] if index is not None else None
        kind = DiscountKind.OTHER
        code: str | None = None
        description: str | None = None
        if app is not None:
            app_type = app.get("type")
            kind = (
                _DISCOUNT_KINDS.get(app_type, DiscountKind.OTHER)
                if isinstance(app_type, str)
                else kind
            )
            code = app.opt_str("code") if app_type == "discount_code" else None
            description = app.opt_str("title") or app.opt_str("description")
        if scope is DiscountScope.SHIPPING:
            kind = DiscountKind.SHIPPING
        discounts.append(
            Discount(
                kind=kind,
                scope=scope,
                amount=Money(amount=amount, currency=currency),
                line_id=target_line,
                code=code,
                description=description,
            )
        )
    if discounts or totals:
        return discounts
    # Older payloads (or a `fields` filter) without allocations: fall back to discount_codes.
    for node in o.objs("discount_codes"):
        code_amount = node.opt_money("amount", currency)
        if code_amount is None or code_amount.amount == 0:
            continue
        shipping = node.get("type") == "shipping"
        discounts.append(
            Discount(
                kind=DiscountKind.SHIPPING if shipping else DiscountKind.COUPON,
                scope=DiscountScope.SHIPPING if shipping else DiscountScope.ORDER,
                amount=code_amount,
                code=node.opt_str("code"),
            )
        )
    return discounts


def _person_name(node: _Node) -> str | None:
    full = node.opt_str("name")
    if full is not None:
        return full
    parts = [p for p in (node.opt_str("first_name"), node.opt_str("last_name")) if p]
    return " ".join(parts) or None


def _address(node: _Node) -> Address | None:
    country = node.opt_str("country_code")
    if country is None:
        return None
    country = country.strip().upper()
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        _fail(node.at("country_code"), "must be an ISO 3166-1 alpha-2 code")
    lines = [line for line in (node.opt_str("address1"), node.opt_str("address2")) if line]
    return Address(
        country=country,
        province=node.opt_str("province"),
        province_code=node.opt_str("province_code"),
        city=node.opt_str("city"),
        lines=lines,
        postal_code=node.opt_str("zip"),
    )


def _buyer(o: _Node) -> Party | None:
    customer = o.obj("customer")
    email = o.opt_str("email") or o.opt_str("contact_email")
    phone = o.opt_str("phone")
    name = None
    buyer_id = None
    if customer is not None:
        buyer_id = customer.opt_id("id")
        name = _person_name(customer)
        email = email or customer.opt_str("email")
        phone = customer.opt_str("phone") or phone
    if buyer_id is None and not (name or email or phone):
        return None
    personal = any((name, email, phone))
    return Party(
        name=name,
        phone=phone,
        email=email,
        platform_buyer_id=buyer_id,
        pii_form=PiiForm.PLAIN if personal else None,
    )


def _receiver(o: _Node) -> Party | None:
    shipping = o.obj("shipping_address")
    if shipping is None:
        return None
    name = _person_name(shipping)
    phone = shipping.opt_str("phone")
    address = _address(shipping)
    personal = bool(
        name or phone or (address is not None and (address.lines or address.postal_code))
    )
    return Party(
        name=name,
        phone=phone,
        company=shipping.opt_str("company"),
        address=address,
        pii_form=PiiForm.PLAIN if personal else None,
    )


def _payment(
    o: _Node, financial: str | None, total: Money, outstanding: Money | None
) -> PaymentSummary | None:
    if financial not in _PAID_STATES:
        return None
    if outstanding is not None:
        paid = total - outstanding
    elif financial in ("paid", "partially_refunded", "refunded"):
        paid = total
    else:
        paid = Money.zero(total.currency)
    gateways = o.get("payment_gateway_names")
    names = (
        [g for g in gateways if isinstance(g, str) and g.strip()]
        if isinstance(gateways, list)
        else []
    )
    return PaymentSummary(method=",".join(names) or None, paid_amount=paid)


def _presale(status: OrderStatus, total: Money, outstanding: Money | None) -> PresaleInfo | None:
    """A partially paid order without payment terms is a deposit order: the paid part is the
    deposit, `total_outstanding` the balance."""
    if status is not OrderStatus.PRESALE_DEPOSIT_PAID or outstanding is None:
        return None
    if outstanding.amount <= 0 or outstanding.amount > total.amount:
        return None
    return PresaleInfo(
        stage=PresaleStage.DEPOSIT_PAID,
        native_stage="partially_paid",
        deposit=total - outstanding,
        balance=outstanding,
    )


def _map_fulfillment(node: _Node) -> Shipment:
    status = node.opt_str("status")
    shipment = node.opt_str("shipment_status")
    company = node.opt_str("tracking_company")
    numbers = [n for n in _str_list(node.get("tracking_numbers")) if n.strip()]
    number = node.opt_str("tracking_number") or (numbers[0] if numbers else None)
    urls = [u for u in _str_list(node.get("tracking_urls")) if u.strip()]
    url = node.opt_str("tracking_url") or (urls[0] if urls else None)
    if url is not None and (
        not url.startswith(("http://", "https://")) or any(c.isspace() for c in url)
    ):
        url = None  # kept in raw; the unified field only holds a usable link
    quantities: dict[str, int] = {}
    for item in node.objs("line_items"):
        line_id = item.id("id")
        quantity = item.opt_int("quantity")
        if quantity is not None and quantity > 0:
            quantities[line_id] = quantities.get(line_id, 0) + quantity
    extensions = _copy_scalars(node, ("name", "service", "location_id", "shipment_status"))
    if len(numbers) > 1:
        extensions["tracking_numbers"] = numbers
    if len(urls) > 1:
        extensions["tracking_urls"] = urls
    native = f"status={status if status is not None else 'null'}"
    if shipment is not None:
        native += f";shipment_status={shipment}"
    return Shipment(
        native_id=node.opt_id("id"),
        carrier_code=unified_carrier_code(company),
        native_carrier_code=company,
        carrier_name=company,
        tracking_number=number,
        tracking_url=url,
        lines=[ShipmentLine(line_id=k, quantity=v) for k, v in quantities.items()],
        status=statuses.shipment_status(status, shipment),
        native_status=native,
        shipped_at=node.opt_time("created_at"),
        extensions=extensions,
    )


def _str_list(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _tags(o: _Node) -> list[str]:
    text = o.opt_str("tags")
    if text is None:
        return []
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def _order_extensions(o: _Node, currency: str) -> dict[str, Any]:
    ext = _copy_scalars(o, _ORDER_EXTENSION_FIELDS)
    gateways = _str_list(o.get("payment_gateway_names"))
    if any(g.strip() for g in gateways):
        ext["payment_gateway_names"] = [g for g in gateways if g.strip()]
    codes = [
        {
            k: node.data[k]
            for k in ("code", "type", "amount")
            if k in node.data and _json_scalar(node.data[k])
        }
        for node in o.objs("discount_codes")
    ]
    if codes:
        ext["discount_codes"] = codes
    tax_lines = [
        {
            k: node.data[k]
            for k in ("title", "rate", "price")
            if k in node.data and _json_scalar(node.data[k])
        }
        for node in o.objs("tax_lines")
    ]
    if tax_lines:
        ext["tax_lines"] = tax_lines
    terms = o.obj("payment_terms")
    if terms is not None:
        ext["payment_terms"] = _copy_scalars(
            terms, ("payment_terms_name", "payment_terms_type", "due_in_days")
        )
    presentment_currency = o.opt_str("presentment_currency")
    if presentment_currency is not None and presentment_currency != currency:
        totals: dict[str, Any] = {"currency": presentment_currency}
        for name, bag in _PRESENTMENT_TOTALS:
            amount = o.presentment_amount(bag)
            if amount is not None and amount[1] == presentment_currency:
                totals[name] = amount[0]
        ext["presentment"] = totals
    return ext
