"""Shopify Admin REST wire shapes: error bodies, resource JSON, ``fields``, ``page_info``.

Bodies follow Shopify's conventions: a singular root key for one object
(``{"order": {...}}``), a plural one for lists, money as strings with two decimals plus a
``*_set`` bag (shop and presentment money), timestamps in shop-local ISO-8601 with
offset, ids as JSON integers. Errors always use the ``errors`` key, either a string
(``{"errors": "Not Found"}``) or an object of field -> message(s).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote

from shopbridge.sandbox.shopify.state import (
    Address,
    Customer,
    Event,
    Fulfillment,
    FulfillmentOrder,
    InventoryItem,
    InventoryLevel,
    LineItem,
    Location,
    Order,
    Product,
    Refund,
    ShopifyState,
    TaxLine,
    Transaction,
    Variant,
    Webhook,
    cents,
)

JSON = dict[str, Any]

UNAUTHORIZED_MESSAGE = (
    "[API] Invalid API key or access token (unrecognized login or wrong password)"
)
PAGINATION_DOC = "https://shopify.dev/api/usage/pagination-rest"
SERVER_ERROR_BODIES: dict[int, str] = {
    500: "An unexpected error occurred",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ShopifyHTTPError(Exception):
    """An error response in Shopify's shape: ``{"errors": ...}`` with a status."""

    def __init__(self, status: int, errors: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {errors}")
        self.status = status
        self.errors = errors
        self.headers = dict(headers or {})

    def body(self) -> JSON:
        return {"errors": self.errors}


def not_found() -> ShopifyHTTPError:
    return ShopifyHTTPError(404, "Not Found")


def unauthorized() -> ShopifyHTTPError:
    return ShopifyHTTPError(401, UNAUTHORIZED_MESSAGE)


def forbidden_scope(scope: str) -> ShopifyHTTPError:
    return ShopifyHTTPError(403, f"[API] This action requires merchant approval for {scope} scope.")


def not_acceptable() -> ShopifyHTTPError:
    return ShopifyHTTPError(406, "Not Acceptable")


def rate_limited(leak_per_second: float) -> ShopifyHTTPError:
    return ShopifyHTTPError(
        429,
        f"Exceeded {leak_per_second:g} calls per second for api client. "
        "Reduce request rates to resume uninterrupted service.",
        {"Retry-After": "2.0"},
    )


def server_error(status: int) -> ShopifyHTTPError:
    return ShopifyHTTPError(status, SERVER_ERROR_BODIES.get(status, "An unexpected error occurred"))


def bad_param(
    name: str, message: str = "Required parameter missing or invalid"
) -> ShopifyHTTPError:
    return ShopifyHTTPError(400, {name: message})


def unprocessable(errors: dict[str, list[str]]) -> ShopifyHTTPError:
    return ShopifyHTTPError(422, errors)


def dump(body: Any) -> bytes:
    """Compact JSON, UTF-8, as Shopify sends it."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------------------------------
# scalars


def money(value: Decimal) -> str:
    return f"{cents(value):.2f}"


def money_set(value: Decimal, currency: str) -> JSON:
    amount = {"amount": money(value), "currency_code": currency}
    return {"shop_money": amount, "presentment_money": dict(amount)}


def gid(kind: str, resource_id: int) -> str:
    return f"gid://shopify/{kind}/{resource_id}"


def timestamp(moment: datetime | None, zone: tzinfo) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(zone).isoformat(timespec="seconds")


def _token(*parts: object) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:32]


def apply_fields(obj: JSON, fields: list[str] | None) -> JSON:
    """Keep only the requested top-level keys (Shopify's ``fields`` parameter)."""
    if not fields:
        return obj
    wanted = set(fields)
    return {key: value for key, value in obj.items() if key in wanted}


def parse_fields(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    return names or None


# ---------------------------------------------------------------------------------------
# renderers


@dataclass(frozen=True)
class RenderContext:
    """What renderers need besides the resource itself."""

    state: ShopifyState
    version: str

    @property
    def zone(self) -> tzinfo:
        return self.state.shop.zone

    @property
    def currency(self) -> str:
        return self.state.shop.currency

    def ts(self, moment: datetime | None) -> str | None:
        return timestamp(moment, self.zone)

    def money_set(self, value: Decimal) -> JSON:
        return money_set(value, self.currency)


def render_address(address: Address | None) -> JSON | None:
    if address is None:
        return None
    return {
        "first_name": address.first_name,
        "address1": address.address1,
        "phone": address.phone,
        "city": address.city,
        "zip": address.zip,
        "province": address.province,
        "country": address.country,
        "last_name": address.last_name,
        "address2": address.address2,
        "company": address.company,
        "latitude": address.latitude,
        "longitude": address.longitude,
        "name": address.name,
        "country_code": address.country_code,
        "province_code": address.province_code,
    }


def render_customer(customer: Customer, ctx: RenderContext) -> JSON:
    address = customer.default_address
    return {
        "id": customer.id,
        "email": customer.email,
        "created_at": ctx.ts(customer.created_at),
        "updated_at": ctx.ts(customer.updated_at),
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "state": customer.state,
        "note": customer.note,
        "verified_email": customer.verified_email,
        "multipass_identifier": None,
        "tax_exempt": False,
        "phone": customer.phone,
        "email_marketing_consent": {
            "state": "subscribed" if customer.accepts_marketing else "not_subscribed",
            "opt_in_level": "single_opt_in" if customer.accepts_marketing else None,
            "consent_updated_at": ctx.ts(customer.created_at)
            if customer.accepts_marketing
            else None,
        },
        "sms_marketing_consent": None,
        "tags": customer.tags,
        "currency": ctx.currency,
        "tax_exemptions": [],
        "admin_graphql_api_id": gid("Customer", customer.id),
        "default_address": {
            "id": customer.default_address_id,
            "customer_id": customer.id,
            "first_name": address.first_name,
            "last_name": address.last_name,
            "company": address.company,
            "address1": address.address1,
            "address2": address.address2,
            "city": address.city,
            "province": address.province,
            "country": address.country,
            "zip": address.zip,
            "phone": address.phone,
            "name": address.name,
            "province_code": address.province_code,
            "country_code": address.country_code,
            "country_name": address.country,
            "default": True,
        },
    }


def render_tax_line(tax: TaxLine, ctx: RenderContext) -> JSON:
    return {
        "channel_liable": False,
        "price": money(tax.price),
        "price_set": ctx.money_set(tax.price),
        "rate": float(tax.rate),
        "title": tax.title,
    }


def render_line_item(order: Order, line: LineItem, ctx: RenderContext) -> JSON:
    variant = ctx.state.variants.get(line.variant_id) if line.variant_id else None
    return {
        "id": line.id,
        "admin_graphql_api_id": gid("LineItem", line.id),
        "attributed_staffs": [],
        "current_quantity": order.current_quantity(line.id),
        "fulfillable_quantity": order.fulfillable_quantity(line.id),
        "fulfillment_service": line.fulfillment_service,
        "fulfillment_status": order.line_fulfillment_status(line.id),
        "gift_card": line.gift_card or not line.requires_shipping,
        "grams": line.grams,
        "name": line.name,
        "price": money(line.price),
        "price_set": ctx.money_set(line.price),
        "product_exists": line.product_id in ctx.state.products,
        "product_id": line.product_id,
        "properties": [dict(p) for p in line.properties],
        "quantity": line.quantity,
        "requires_shipping": line.requires_shipping,
        "sku": line.sku,
        "taxable": line.taxable,
        "title": line.title,
        "total_discount": money(line.discount),
        "total_discount_set": ctx.money_set(line.discount),
        "variant_id": line.variant_id,
        "variant_inventory_management": variant.inventory_management if variant else None,
        "variant_title": line.variant_title,
        "vendor": line.vendor,
        "tax_lines": [render_tax_line(t, ctx) for t in line.tax_lines],
        "duties": [],
        "discount_allocations": [
            {
                "amount": money(a.amount),
                "amount_set": ctx.money_set(a.amount),
                "discount_application_index": a.application_index,
            }
            for a in line.discount_allocations
        ],
    }


def render_transaction(order: Order, transaction: Transaction, ctx: RenderContext) -> JSON:
    position = next(
        (i for i, t in enumerate(order.transactions) if t.id == transaction.id),
        len(order.transactions),
    )
    return {
        "id": transaction.id,
        "admin_graphql_api_id": gid("OrderTransaction", transaction.id),
        "amount": money(transaction.amount),
        "authorization": transaction.authorization,
        "created_at": ctx.ts(transaction.created_at),
        "currency": transaction.currency,
        "device_id": None,
        "error_code": None,
        "gateway": transaction.gateway,
        "kind": transaction.kind,
        "location_id": None,
        "message": transaction.message,
        "order_id": transaction.order_id,
        "parent_id": transaction.parent_id,
        "payment_id": f"{order.confirmation_number}.{position + 1}",
        "processed_at": ctx.ts(transaction.processed_at),
        "receipt": {},
        "source_name": transaction.source_name,
        "status": transaction.status,
        "test": transaction.test,
        "user_id": None,
    }


def render_refund(order: Order, refund: Refund, ctx: RenderContext) -> JSON:
    zero = Decimal("0")
    return {
        "id": refund.id,
        "admin_graphql_api_id": gid("Refund", refund.id),
        "created_at": ctx.ts(refund.created_at),
        "note": refund.note,
        "order_id": refund.order_id,
        "processed_at": ctx.ts(refund.processed_at),
        "restock": refund.restock,
        "total_additional_fees_set": ctx.money_set(zero),
        "total_duties_set": ctx.money_set(zero),
        "user_id": None,
        "order_adjustments": [
            {
                "id": adj.id,
                "amount": money(-adj.amount),
                "amount_set": ctx.money_set(-adj.amount),
                "kind": adj.kind,
                "order_id": order.id,
                "reason": adj.reason,
                "refund_id": refund.id,
                "tax_amount": money(-adj.tax_amount),
                "tax_amount_set": ctx.money_set(-adj.tax_amount),
            }
            for adj in refund.order_adjustments
        ],
        "transactions": [render_transaction(order, t, ctx) for t in refund.transactions],
        "refund_line_items": [
            {
                "id": rli.id,
                "line_item_id": rli.line_item_id,
                "location_id": rli.location_id,
                "quantity": rli.quantity,
                "restock_type": rli.restock_type,
                # Shopify sends these two as JSON numbers (their *_set bags hold strings).
                "subtotal": float(rli.subtotal),
                "subtotal_set": ctx.money_set(rli.subtotal),
                "total_tax": float(rli.total_tax),
                "total_tax_set": ctx.money_set(rli.total_tax),
                "line_item": render_line_item(order, order.line(rli.line_item_id), ctx),
            }
            for rli in refund.refund_line_items
        ],
        "duties": [],
        "additional_fees": [],
    }


def render_fulfillment(order: Order, fulfillment: Fulfillment, ctx: RenderContext) -> JSON:
    line_items = []
    for fl in fulfillment.lines:
        line = render_line_item(order, order.line(fl.line_item_id), ctx)
        line["quantity"] = fl.quantity
        line_items.append(line)
    return {
        "id": fulfillment.id,
        "admin_graphql_api_id": gid("Fulfillment", fulfillment.id),
        "created_at": ctx.ts(fulfillment.created_at),
        "location_id": fulfillment.location_id,
        "name": fulfillment.name,
        "order_id": fulfillment.order_id,
        "origin_address": {},
        "receipt": {},
        "service": fulfillment.service,
        "shipment_status": fulfillment.shipment_status,
        "status": fulfillment.status,
        "tracking_company": fulfillment.tracking_company,
        "tracking_number": fulfillment.tracking_numbers[0]
        if fulfillment.tracking_numbers
        else None,
        "tracking_numbers": list(fulfillment.tracking_numbers),
        "tracking_url": fulfillment.tracking_urls[0] if fulfillment.tracking_urls else None,
        "tracking_urls": list(fulfillment.tracking_urls),
        "updated_at": ctx.ts(fulfillment.updated_at),
        "line_items": line_items,
    }


def render_fulfillment_order(fo: FulfillmentOrder, ctx: RenderContext) -> JSON:
    state = ctx.state
    order = state.orders.get(fo.order_id)
    location = state.locations.get(fo.assigned_location_id)
    address = order.shipping_address if order else None
    return {
        "id": fo.id,
        "shop_id": state.shop.id,
        "order_id": fo.order_id,
        "assigned_location_id": fo.assigned_location_id,
        "request_status": fo.request_status,
        "status": fo.status,
        "supported_actions": fo.supported_actions,
        "destination": None
        if address is None
        else {
            "id": fo.id + 1,
            "address1": address.address1,
            "address2": address.address2,
            "city": address.city,
            "company": address.company,
            "country": address.country,
            "email": order.email if order else None,
            "first_name": address.first_name,
            "last_name": address.last_name,
            "phone": address.phone,
            "province": address.province,
            "zip": address.zip,
        },
        "line_items": [
            {
                "id": line.id,
                "shop_id": state.shop.id,
                "fulfillment_order_id": fo.id,
                "quantity": line.quantity,
                "line_item_id": line.line_item_id,
                "inventory_item_id": line.inventory_item_id,
                "fulfillable_quantity": line.fulfillable_quantity,
                "variant_id": line.variant_id,
            }
            for line in fo.lines
        ],
        "international_duties": None,
        "fulfill_at": ctx.ts(fo.fulfill_at),
        "fulfill_by": ctx.ts(fo.fulfill_by),
        "fulfillment_holds": [],
        "created_at": ctx.ts(fo.created_at),
        "updated_at": ctx.ts(fo.updated_at),
        "delivery_method": {
            "id": fo.id + 2,
            "method_type": "shipping",
            "min_delivery_date_time": None,
            "max_delivery_date_time": None,
        },
        "assigned_location": {
            "address1": location.address1 if location else None,
            "address2": location.address2 if location else None,
            "city": location.city if location else None,
            "country_code": location.country_code if location else None,
            "location_id": fo.assigned_location_id,
            "name": location.name if location else None,
            "phone": location.phone if location else None,
            "province": location.province if location else None,
            "zip": location.zip if location else None,
        },
        "merchant_requests": [],
    }


def _aggregate_taxes(order: Order) -> list[TaxLine]:
    grouped: OrderedDict[tuple[str, Decimal], Decimal] = OrderedDict()
    for line in order.line_items:
        for tax in line.tax_lines:
            grouped[(tax.title, tax.rate)] = (
                grouped.get((tax.title, tax.rate), Decimal("0")) + tax.price
            )
    for shipping in order.shipping_lines:
        for tax in shipping.tax_lines:
            grouped[(tax.title, tax.rate)] = (
                grouped.get((tax.title, tax.rate), Decimal("0")) + tax.price
            )
    return [TaxLine(title, rate, cents(price)) for (title, rate), price in grouped.items()]


def render_order(order: Order, ctx: RenderContext) -> JSON:
    """The full REST ``order`` object."""
    state = ctx.state
    totals = order.totals()
    customer = state.customers.get(order.customer_id) if order.customer_id else None
    web = order.source_name == "web"
    cart_token = _token("cart", order.id) if web else None
    return {
        "id": order.id,
        "admin_graphql_api_id": gid("Order", order.id),
        "app_id": 580111,
        "browser_ip": order.browser_ip,
        "buyer_accepts_marketing": order.buyer_accepts_marketing,
        "cancel_reason": order.cancel_reason,
        "cancelled_at": ctx.ts(order.cancelled_at),
        "cart_token": cart_token,
        "checkout_id": order.id // 1000 + 37_000_000_000 if web else None,
        "checkout_token": _token("checkout", order.id) if web else None,
        "client_details": {
            "accept_language": order.customer_locale,
            "browser_height": None,
            "browser_ip": order.browser_ip,
            "browser_width": None,
            "session_hash": None,
            "user_agent": None,
        },
        "closed_at": ctx.ts(order.closed_at),
        "confirmation_number": order.confirmation_number,
        "confirmed": True,
        "contact_email": order.email,
        "created_at": ctx.ts(order.created_at),
        "currency": order.currency,
        "current_subtotal_price": money(totals.current_subtotal_price),
        "current_subtotal_price_set": ctx.money_set(totals.current_subtotal_price),
        "current_total_additional_fees_set": None,
        "current_total_discounts": money(totals.current_total_discounts),
        "current_total_discounts_set": ctx.money_set(totals.current_total_discounts),
        "current_total_duties_set": None,
        "current_total_price": money(totals.current_total_price),
        "current_total_price_set": ctx.money_set(totals.current_total_price),
        "current_total_tax": money(totals.current_total_tax),
        "current_total_tax_set": ctx.money_set(totals.current_total_tax),
        "customer_locale": order.customer_locale,
        "device_id": None,
        "discount_codes": [
            {"code": code.code, "amount": money(code.amount), "type": code.type}
            for code in order.discount_codes
        ],
        "email": order.email,
        "estimated_taxes": False,
        "financial_status": order.financial_status,
        "fulfillment_status": order.fulfillment_status,
        "landing_site": "/" if web else None,
        "landing_site_ref": None,
        "location_id": None,
        "merchant_of_record_app_id": None,
        "name": order.name,
        "note": order.note,
        "note_attributes": [dict(a) for a in order.note_attributes],
        "number": order.number,
        "order_number": order.order_number,
        "order_status_url": (
            f"https://{state.shop.domain}/{state.shop.id}/orders/{order.token}/authenticate"
            f"?key={_token('status', order.token)}"
        ),
        "original_total_additional_fees_set": None,
        "original_total_duties_set": None,
        "payment_gateway_names": [order.gateway],
        "phone": order.phone,
        "po_number": None,
        "presentment_currency": order.currency,
        "processed_at": ctx.ts(order.processed_at),
        "reference": None,
        "referring_site": None,
        "source_identifier": None,
        "source_name": order.source_name,
        "source_url": None,
        "subtotal_price": money(totals.subtotal_price),
        "subtotal_price_set": ctx.money_set(totals.subtotal_price),
        "tags": order.tags,
        "tax_exempt": False,
        "tax_lines": [render_tax_line(t, ctx) for t in _aggregate_taxes(order)],
        "taxes_included": order.taxes_included,
        "test": order.test,
        "token": order.token,
        "total_discounts": money(totals.total_discounts),
        "total_discounts_set": ctx.money_set(totals.total_discounts),
        "total_line_items_price": money(totals.total_line_items_price),
        "total_line_items_price_set": ctx.money_set(totals.total_line_items_price),
        "total_outstanding": money(totals.total_outstanding),
        "total_price": money(totals.total_price),
        "total_price_set": ctx.money_set(totals.total_price),
        "total_shipping_price_set": ctx.money_set(totals.shipping_price),
        "total_tax": money(totals.total_tax),
        "total_tax_set": ctx.money_set(totals.total_tax),
        "total_tip_received": "0.00",
        "total_weight": totals.total_weight,
        "updated_at": ctx.ts(order.updated_at),
        "user_id": None,
        "billing_address": render_address(order.billing_address),
        "customer": render_customer(customer, ctx) if customer else None,
        "discount_applications": [
            {
                "target_type": app.target_type,
                "type": app.type,
                "value": str(float(app.value)),
                "value_type": app.value_type,
                "allocation_method": app.allocation_method,
                "target_selection": app.target_selection,
                **({"code": app.code} if app.type == "discount_code" else {}),
                **(
                    {"title": app.title, "description": app.description}
                    if app.type != "discount_code"
                    else {}
                ),
            }
            for app in order.discount_applications
        ],
        "fulfillments": [render_fulfillment(order, f, ctx) for f in order.fulfillments],
        "line_items": [render_line_item(order, line, ctx) for line in order.line_items],
        "payment_terms": None,
        "refunds": [render_refund(order, r, ctx) for r in order.refunds],
        "shipping_address": render_address(order.shipping_address),
        "shipping_lines": [
            {
                "id": s.id,
                "carrier_identifier": s.carrier_identifier,
                "code": s.code,
                "discounted_price": money(s.price - s.discount),
                "discounted_price_set": ctx.money_set(s.price - s.discount),
                "is_removed": False,
                "phone": None,
                "price": money(s.price),
                "price_set": ctx.money_set(s.price),
                "requested_fulfillment_service_id": None,
                "source": s.source,
                "title": s.title,
                "tax_lines": [render_tax_line(t, ctx) for t in s.tax_lines],
                "discount_allocations": [
                    {
                        "amount": money(s.discount),
                        "amount_set": ctx.money_set(s.discount),
                        "discount_application_index": next(
                            (
                                i
                                for i, app in enumerate(order.discount_applications)
                                if app.target_type == "shipping_line"
                            ),
                            0,
                        ),
                    }
                ]
                if s.discount > 0
                else [],
            }
            for s in order.shipping_lines
        ],
    }


def _weight(grams: int, unit: str) -> float:
    if unit == "lb":
        return round(grams / 453.59237, 2)
    if unit == "oz":
        return round(grams / 28.349523125, 2)
    if unit == "g":
        return float(grams)
    return round(grams / 1000, 3)


def render_variant(variant: Variant, ctx: RenderContext) -> JSON:
    quantity = ctx.state.available(variant.inventory_item_id)
    unit = ctx.state.shop.weight_unit
    return {
        "id": variant.id,
        "product_id": variant.product_id,
        "title": variant.title,
        "price": money(variant.price),
        "position": variant.position,
        "inventory_policy": variant.inventory_policy,
        "compare_at_price": money(variant.compare_at_price)
        if variant.compare_at_price is not None
        else None,
        "option1": variant.option1,
        "option2": variant.option2,
        "option3": variant.option3,
        "created_at": ctx.ts(variant.created_at),
        "updated_at": ctx.ts(variant.updated_at),
        "taxable": variant.taxable,
        "barcode": variant.barcode,
        "fulfillment_service": "manual",
        "grams": variant.grams,
        "inventory_management": variant.inventory_management,
        "requires_shipping": variant.requires_shipping,
        "sku": variant.sku,
        "weight": _weight(variant.grams, unit),
        "weight_unit": unit,
        "inventory_item_id": variant.inventory_item_id,
        "inventory_quantity": quantity,
        "old_inventory_quantity": quantity,
        "admin_graphql_api_id": gid("ProductVariant", variant.id),
        "image_id": None,
    }


REST_VARIANT_LIMIT = 100
"""REST product payloads carry at most 100 variants, although products may have up to 2048
since 2025 (Shopify's new-product-model migration guide); the rest is GraphQL-only."""


def render_product(product: Product, ctx: RenderContext) -> JSON:
    variant_ids = product.variant_ids[:REST_VARIANT_LIMIT]
    return {
        "id": product.id,
        "title": product.title,
        "body_html": product.body_html,
        "vendor": product.vendor,
        "product_type": product.product_type,
        "created_at": ctx.ts(product.created_at),
        "handle": product.handle,
        "updated_at": ctx.ts(product.updated_at),
        "published_at": ctx.ts(product.published_at),
        "template_suffix": None,
        "published_scope": "global",
        "tags": product.tags,
        "status": product.status,
        "admin_graphql_api_id": gid("Product", product.id),
        "variants": [render_variant(ctx.state.variants[vid], ctx) for vid in variant_ids],
        "options": [
            {
                "id": option.id,
                "product_id": product.id,
                "name": option.name,
                "position": option.position,
                "values": list(option.values),
            }
            for option in product.options
        ],
        "images": [],
        "image": None,
    }


def render_location(location: Location, ctx: RenderContext) -> JSON:
    return {
        "id": location.id,
        "name": location.name,
        "address1": location.address1,
        "address2": location.address2,
        "city": location.city,
        "zip": location.zip,
        "province": location.province,
        "country": location.country_code,
        "phone": location.phone,
        "created_at": ctx.ts(location.created_at),
        "updated_at": ctx.ts(location.updated_at),
        "country_code": location.country_code,
        "country_name": location.country,
        "province_code": location.province_code,
        "legacy": False,
        "active": location.active,
        "admin_graphql_api_id": gid("Location", location.id),
        "localized_country_name": location.country,
        "localized_province_name": location.province,
    }


def render_inventory_level(level: InventoryLevel, ctx: RenderContext) -> JSON:
    return {
        "inventory_item_id": level.inventory_item_id,
        "location_id": level.location_id,
        "available": level.available,
        "updated_at": ctx.ts(level.updated_at),
        "admin_graphql_api_id": (
            f"gid://shopify/InventoryLevel/{level.location_id}?inventory_item_id={level.inventory_item_id}"
        ),
    }


def render_inventory_item(item: InventoryItem, ctx: RenderContext) -> JSON:
    return {
        "id": item.id,
        "sku": item.sku,
        "created_at": ctx.ts(item.created_at),
        "updated_at": ctx.ts(item.updated_at),
        "requires_shipping": item.requires_shipping,
        "cost": money(item.cost),
        "country_code_of_origin": item.country_code_of_origin,
        "province_code_of_origin": None,
        "harmonized_system_code": item.harmonized_system_code,
        "tracked": item.tracked,
        "country_harmonized_system_codes": [],
        "admin_graphql_api_id": gid("InventoryItem", item.id),
    }


def render_event(event: Event, ctx: RenderContext) -> JSON:
    return {
        "id": event.id,
        "subject_id": event.subject_id,
        "created_at": ctx.ts(event.created_at),
        "subject_type": event.subject_type,
        "verb": event.verb,
        "arguments": list(event.arguments),
        "body": event.body,
        "message": event.message,
        "author": event.author,
        "description": event.message,
        "path": event.path,
    }


def render_webhook(webhook: Webhook, ctx: RenderContext) -> JSON:
    return {
        "id": webhook.id,
        "address": webhook.address,
        "topic": webhook.topic,
        "created_at": ctx.ts(webhook.created_at),
        "updated_at": ctx.ts(webhook.updated_at),
        "format": webhook.format,
        "fields": list(webhook.fields),
        "metafield_namespaces": list(webhook.metafield_namespaces),
        "api_version": webhook.api_version,
        "private_metafield_namespaces": [],
    }


def render_shop(ctx: RenderContext) -> JSON:
    state = ctx.state
    shop = state.shop
    offset = state.now().astimezone(shop.zone).strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}" if offset else "+00:00"
    return {
        "id": shop.id,
        "name": shop.name,
        "email": shop.email,
        "domain": shop.domain,
        "province": shop.province,
        "country": shop.country_code,
        "address1": shop.address1,
        "zip": shop.zip,
        "city": shop.city,
        "source": None,
        "phone": shop.phone,
        "latitude": None,
        "longitude": None,
        "primary_locale": shop.primary_locale,
        "address2": "",
        "created_at": ctx.ts(shop.created_at),
        "updated_at": ctx.ts(shop.updated_at),
        "country_code": shop.country_code,
        "country_name": shop.country_name,
        "currency": shop.currency,
        "customer_email": shop.email,
        "timezone": f"(GMT{offset}) {shop.iana_timezone}",
        "iana_timezone": shop.iana_timezone,
        "shop_owner": shop.shop_owner,
        "money_format": shop.money_format,
        "money_with_currency_format": f"{shop.money_format} {shop.currency}",
        "weight_unit": shop.weight_unit,
        "province_code": shop.province_code,
        "taxes_included": shop.taxes_included,
        "auto_configure_tax_inclusivity": None,
        "tax_shipping": None,
        "county_taxes": True,
        "plan_display_name": shop.plan_display_name,
        "plan_name": shop.plan_name,
        "has_discounts": True,
        "has_gift_cards": True,
        "myshopify_domain": shop.myshopify_domain,
        "google_apps_domain": None,
        "google_apps_login_enabled": None,
        "money_in_emails_format": shop.money_format,
        "money_with_currency_in_emails_format": f"{shop.money_format} {shop.currency}",
        "eligible_for_payments": True,
        "requires_extra_payments_agreement": False,
        "password_enabled": False,
        "has_storefront": True,
        "finances": True,
        "primary_location_id": state.primary_location_id if state.locations else None,
        "checkout_api_supported": True,
        "multi_location_enabled": len(state.locations) > 1,
        "setup_required": False,
        "pre_launch_enabled": False,
        "enabled_presentment_currencies": [shop.currency],
        "marketing_sms_consent_enabled_at_checkout": False,
        "transactional_sms_disabled": False,
    }


# ---------------------------------------------------------------------------------------
# cursor pagination


SortKey = list[Any]


@dataclass(frozen=True)
class PageCursor:
    """Decoded ``page_info``: the original filters plus where the page boundary is."""

    resource: str
    filters: dict[str, Any]
    direction: Literal["next", "previous"]
    key: SortKey

    def encode(self) -> str:
        raw = json.dumps(
            {"r": self.resource, "f": self.filters, "d": self.direction, "k": self.key},
            separators=(",", ":"),
            sort_keys=True,
        ).encode("utf-8")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, value: str, resource: str) -> PageCursor | None:
        try:
            padded = value + "=" * (-len(value) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        except (ValueError, binascii.Error, UnicodeError):
            return None
        if not isinstance(data, dict) or data.get("r") != resource:
            return None
        filters, direction, key = data.get("f"), data.get("d"), data.get("k")
        if (
            not isinstance(filters, dict)
            or direction not in ("next", "previous")
            or not isinstance(key, list)
        ):
            return None
        return cls(resource, filters, direction, key)


def link_header(
    url: str, *, limit: int, fields: str | None, previous: str | None, next_: str | None
) -> str | None:
    """Build ``Link: <url>; rel="previous", <url>; rel="next"`` (no commas inside URLs)."""
    parts: list[str] = []
    for rel, info in (("previous", previous), ("next", next_)):
        if info is None:
            continue
        query: list[tuple[str, str]] = [("limit", str(limit))]
        if fields:
            query.append(("fields", fields))
        query.append(("page_info", info))
        # Shopify leaves the commas of ``fields`` literal; SDKs split the header on ", ".
        encoded = "&".join(f"{key}={quote(value, safe=',')}" for key, value in query)
        parts.append(f'<{url}?{encoded}>; rel="{rel}"')
    return ", ".join(parts) if parts else None


def iter_ids(values: Iterable[str]) -> list[int]:
    """Parse comma separated integer ids (``ids=1,2,3``); raise ValueError when invalid."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part:
                ids.append(int(part))
    return ids
