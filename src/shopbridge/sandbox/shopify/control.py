"""The sandbox control plane under ``/_sandbox/`` (JSON, not part of Shopify's API).

Endpoints are ``async`` on purpose: they run on the event loop like the Admin API
handlers and the live stream, so every change to the shop happens on one thread.

Tests, demos and load scenarios use it to create orders, move them through their
lifecycle, read what clients did (fulfillments, stock changes), inspect pushes and inject
faults. It is unauthenticated unless ``control_token`` is set, in which case every call
needs the header ``X-Sandbox-Token``. Control calls never count against the shop's rate
limit and never trigger injected faults. See docs/sandboxes.md for the reference.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import Field

from shopbridge.sandbox.common.control import ControlModel, StreamIn, TickIn, control_router
from shopbridge.sandbox.common.faults import FaultKind
from shopbridge.sandbox.common.push import DeliveryState
from shopbridge.sandbox.shopify.envelope import (
    RenderContext,
    render_fulfillment,
    render_order,
)
from shopbridge.sandbox.shopify.state import (
    Address,
    BuyerRequest,
    DiscountRequest,
    InvalidError,
    InventoryItem,
    InventoryLevel,
    LineRequest,
    NotFoundError,
    Order,
    OrderDraft,
    OutOfStockError,
    PaymentPlan,
    Product,
    ProductOption,
    RefundLineRequest,
    ShippingRequest,
    StateError,
    TrackingInfo,
    Variant,
)
from shopbridge.sandbox.shopify.versions import latest_stable

if TYPE_CHECKING:
    from shopbridge.sandbox.shopify.app import ShopifySandbox


# ---------------------------------------------------------------------------------------
# request models

BURST_SLICE = 20
"""Orders a burst places between two yields to the event loop (pushes start meanwhile)."""


_Model = ControlModel


class LineItemIn(_Model):
    sku: str | None = None
    variant_id: int | None = None
    quantity: int = Field(default=1, ge=1, le=10_000)
    price: Decimal | None = Field(default=None, ge=0)


class BuyerIn(_Model):
    first_name: str
    last_name: str
    email: str
    phone: str | None = None
    address1: str = "1 Example Street"
    address2: str | None = None
    city: str = "Springfield"
    province: str | None = None
    province_code: str | None = None
    country: str = "United States"
    country_code: str = "US"
    zip: str = "00000"


class DiscountIn(_Model):
    code: str
    value: Decimal = Field(ge=0)
    type: Literal["percentage", "fixed_amount", "shipping"] = "fixed_amount"


class ShippingIn(_Model):
    title: str = "Standard Shipping"
    code: str = "STANDARD"
    price: Decimal = Field(default=Decimal("0.00"), ge=0)


SourceName = Literal["web", "pos", "shopify_draft_order", "iphone", "android"]


class CreateOrdersIn(_Model):
    """Create ``count`` generated orders, or one order from the given parts."""

    count: int = Field(default=1, ge=1, le=10_000)
    payment: Literal["paid", "authorized", "pending", "partially_paid"] | None = None
    line_items: list[LineItemIn] | None = None
    buyer: BuyerIn | None = None
    discount: DiscountIn | None = None
    shipping: ShippingIn | None = None
    note: str | None = None
    tags: str = ""
    test: bool = False
    source_name: SourceName | None = None
    """Where the order came from: ``web`` (checkout, the default for orders from parts),
    ``pos``, ``shopify_draft_order`` (a converted draft order), ``iphone``/``android``."""


class VariantIn(_Model):
    sku: str = Field(default="", max_length=255)
    """May be empty, as on Shopify."""
    title: str | None = Field(default=None, min_length=1, max_length=255)
    """Option value; the only variant of a product without options is ``Default Title``."""
    price: Decimal = Field(default=Decimal("10.00"), ge=0)
    available: int = Field(default=0, ge=-1_000_000, le=1_000_000_000)
    """Stock at the primary location."""
    inventory_policy: Literal["deny", "continue"] = "deny"
    """``deny``: checkouts beyond the stock are refused; ``continue``: they oversell."""


class CreateProductIn(_Model):
    title: str = Field(default="Sandbox Product", min_length=1, max_length=255)
    status: Literal["active", "draft", "archived"] = "active"
    vendor: str = "Sandbox"
    product_type: str = ""
    option_name: str = "Title"
    variants: list[VariantIn] = Field(
        default_factory=lambda: [VariantIn()], min_length=1, max_length=2048
    )
    """Up to 2048 (Shopify's limit since 2025); REST product payloads show the first 100."""


class CheckoutIn(_Model):
    """A buyer completes checkout for one variant (by ``variant_id`` or ``sku``)."""

    sku: str | None = Field(default=None, min_length=1, max_length=255)
    variant_id: int | None = None
    quantity: int = Field(default=1, ge=1, le=10_000)
    payment: Literal["paid", "authorized", "pending"] = "paid"


class BurstIn(_Model):
    """A flash sale: ``orders`` generated orders, as fast as possible or paced."""

    orders: int = Field(ge=1, le=100_000)
    per_second: float = Field(default=0.0, ge=0, le=100_000)
    """0 = as fast as the sandbox can create them; otherwise this many orders per second."""
    payment: Literal["paid", "authorized", "pending", "partially_paid"] | None = None


class LineQuantityIn(_Model):
    line_item_id: int | None = None
    sku: str | None = None
    quantity: int = Field(default=1, ge=1)


class FulfillIn(_Model):
    line_items: list[LineQuantityIn] | None = None
    """Omit to fulfil everything remaining."""
    tracking_number: str | None = None
    tracking_company: str | None = None
    tracking_url: str | None = None


class CancelIn(_Model):
    reason: Literal["customer", "fraud", "inventory", "declined", "staff", "other"] = "other"
    restock: bool = True
    refund: bool = True


class RefundLineIn(LineQuantityIn):
    restock_type: Literal["no_restock", "cancel", "return"] = "return"


class RefundIn(_Model):
    line_items: list[RefundLineIn] = Field(default_factory=list)
    shipping: bool | Decimal = False
    """True refunds all remaining shipping; a number refunds that much."""
    amount: Decimal | None = Field(default=None, ge=0)
    """Money to return; default = value of the refunded lines and shipping."""
    note: str | None = None


class ResetIn(_Model):
    seed: int | None = Field(default=None, ge=0, le=100_000)
    random_seed: int | None = None


class FaultIn(_Model):
    kind: FaultKind
    count: int | None = Field(default=1, ge=1)
    """How many matching requests to affect; null = until removed."""
    path_pattern: str | None = None
    """Regular expression searched in the request path, e.g. ``orders`` or ``/shop\\.json$``."""
    method: str | None = None
    status: int | None = Field(default=None, ge=400, le=599)
    """``error``: 500 (default), 502, 503 or 504; ``hang``: optional status after sleeping."""
    seconds: float = Field(default=0.0, ge=0, le=600)
    skip: int = Field(default=0, ge=0)
    """Matching requests to let through before the fault starts."""


class PushFaultIn(_Model):
    duplicate: int = Field(default=0, ge=0)
    """Deliver each of the next N pushes twice."""
    reorder: int = Field(default=0, ge=0)
    """Hold the next N pushes and deliver them in reverse order."""


class TokenIn(_Model):
    action: Literal["expire", "rotate", "restore"]
    token: str | None = None


class RateLimitIn(_Model):
    bucket_size: int | None = Field(default=None, ge=1)
    leak_per_second: float | None = Field(default=None, gt=0)
    level: float | None = Field(default=None, ge=0)


# ---------------------------------------------------------------------------------------
# router


def build_control_router(sandbox: ShopifySandbox) -> APIRouter:
    """All ``/_sandbox/*`` endpoints, bound to one sandbox."""

    router = control_router(lambda: sandbox.options.control_token)

    def ctx() -> RenderContext:
        return RenderContext(sandbox.state, latest_stable(sandbox.clock.now()).name)

    def order_json(order: Order) -> dict[str, Any]:
        return render_order(order, ctx())

    def state_error(exc: StateError) -> HTTPException:
        if isinstance(exc, NotFoundError):
            return HTTPException(status_code=404, detail=f"not found: {exc}")
        if isinstance(exc, InvalidError):
            return HTTPException(status_code=422, detail=exc.errors)
        return HTTPException(status_code=422, detail=str(exc))

    def line_id(order: Order, item: LineQuantityIn) -> int:
        if item.line_item_id is not None:
            order.line(item.line_item_id)
            return item.line_item_id
        if item.sku is not None:
            for line in order.line_items:
                if line.sku == item.sku:
                    return line.id
            raise NotFoundError(f"no line with sku {item.sku}")
        raise InvalidError({"line_items": ["line_item_id or sku is required"]})

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "platform": "shopify",
            "shop_domain": sandbox.options.shop_domain,
            "orders": len(sandbox.state.orders),
        }

    @router.get("/state")
    async def summary() -> dict[str, Any]:
        state = sandbox.state
        with state.lock:
            orders = list(state.orders.values())
            financial: dict[str, int] = {}
            fulfillment: dict[str, int] = {}
            for order in orders:
                financial[order.financial_status] = financial.get(order.financial_status, 0) + 1
                key = order.fulfillment_status or "null"
                fulfillment[key] = fulfillment.get(key, 0) + 1
            pushes: dict[str, int] = {}
            for record in sandbox.dispatcher.records():
                pushes[record.state.value] = pushes.get(record.state.value, 0) + 1
            return {
                "shop": {
                    "domain": state.shop.domain,
                    "currency": state.shop.currency,
                    "timezone": state.shop.iana_timezone,
                },
                "orders": {
                    "total": len(orders),
                    "open": sum(
                        1 for o in orders if o.closed_at is None and o.cancelled_at is None
                    ),
                    "closed": sum(1 for o in orders if o.closed_at is not None),
                    "cancelled": sum(1 for o in orders if o.cancelled_at is not None),
                    "deleted": len(state.deleted_order_ids),
                    "financial_status": financial,
                    "fulfillment_status": fulfillment,
                },
                "products": len(state.products),
                "variants": len(state.variants),
                "locations": [{"id": loc.id, "name": loc.name} for loc in state.locations.values()],
                "webhook_subscriptions": len(state.webhooks),
                "pushes": pushes,
                "push_chaos": sandbox.dispatcher.chaos(),
                "faults": [rule.to_dict() for rule in sandbox.faults.rules()],
                "rate_limit": {
                    "used": sandbox.bucket.used(),
                    "bucket_size": sandbox.bucket.capacity,
                    "leak_per_second": sandbox.bucket.leak_per_second,
                },
                "token": {"expired": sandbox.tokens.expired},
                "stream": {"orders_per_second": sandbox.stream.rate, "steps": sandbox.stream.steps},
            }

    @router.post("/reset")
    async def reset(body: ResetIn | None = None) -> dict[str, Any]:
        body = body or ResetIn()
        sandbox.reset(seed=body.seed, random_seed=body.random_seed)
        return {"status": "reset", "orders": len(sandbox.state.orders)}

    # orders ------------------------------------------------------------------------

    @router.post("/orders", status_code=201)
    async def create_orders(body: CreateOrdersIn) -> dict[str, Any]:
        state = sandbox.state
        created: list[Order] = []
        try:
            with state.lock:
                custom = body.test or any(
                    value is not None
                    for value in (
                        body.line_items,
                        body.buyer,
                        body.discount,
                        body.shipping,
                        body.source_name,
                    )
                )
                if not custom:
                    for _ in range(body.count):
                        created.append(sandbox.stream.new_order(body.payment))
                else:
                    # Explicit lines are a buyer's checkout: refused beyond the stock of a
                    # ``deny``-policy variant (generated lines are not checked).
                    enforce = body.line_items is not None
                    for _ in range(body.count):
                        created.append(
                            state.place_order(_draft(sandbox, body), enforce_stock=enforce)
                        )
                return {"orders": [order_json(o) for o in created]}
        except StateError as exc:
            raise state_error(exc) from None

    @router.post("/burst")
    async def burst(body: BurstIn) -> dict[str, Any]:
        """Place generated orders like a flash sale; each fires ``orders/create`` (and
        ``orders/paid`` when paid) at once. Answers when the last one is placed, with the
        ids only (no rendering), so the call itself stays cheap."""
        ids: list[int] = []
        loop = asyncio.get_running_loop()
        started, wall = loop.time(), time.time()
        try:
            while len(ids) < body.orders:
                if body.per_second > 0:
                    due = min(body.orders, int((loop.time() - started) * body.per_second) + 1)
                else:
                    due = min(body.orders, len(ids) + BURST_SLICE)
                with sandbox.state.lock:
                    while len(ids) < due:
                        ids.append(sandbox.stream.new_order(body.payment).id)
                if len(ids) >= body.orders:
                    break
                if body.per_second > 0:
                    # Sleep until the next order is due; pushes go out meanwhile.
                    wake = started + len(ids) / body.per_second
                    await asyncio.sleep(max(0.0, wake - loop.time()))
                else:
                    await asyncio.sleep(0)  # let the first pushes leave while creating more
        except StateError as exc:
            raise state_error(exc) from None
        return {
            "orders": len(ids),
            "ids": ids,
            "started_at": wall,
            "seconds": round(loop.time() - started, 4),
        }

    @router.post("/checkout", status_code=201, response_model=None)
    async def checkout(body: CheckoutIn) -> dict[str, Any] | JSONResponse:
        """A buyer's checkout: refused (422, nothing created) when a ``deny``-policy
        variant has fewer available at the fulfilling location than asked for; otherwise
        the order is placed and the stock taken in the same locked step, firing
        ``orders/create`` (+ ``orders/paid``) and ``inventory_levels/update``. Answers
        compactly (no order rendering), so a flash sale of many buyers stays cheap."""
        state = sandbox.state
        try:
            with state.lock:
                if body.variant_id is not None:
                    variant = state.variant(body.variant_id)
                elif body.sku is not None:
                    variant = state.variant_by_sku(body.sku)
                else:
                    raise InvalidError({"line_items": ["sku or variant_id is required"]})
                short = state.shortages([LineRequest(variant.id, body.quantity)])
                if short:
                    raise OutOfStockError(short)  # before drafting: a refusal stays cheap
                draft = _draft(
                    sandbox,
                    CreateOrdersIn.model_validate(
                        {
                            "payment": body.payment,
                            "line_items": [{"variant_id": variant.id, "quantity": body.quantity}],
                        }
                    ),
                )
                order = state.place_order(draft, enforce_stock=True)
                level = state.levels.get((variant.inventory_item_id, state.primary_location_id))
                return {
                    "order": {
                        "id": order.id,
                        "name": order.name,
                        "variant_id": variant.id,
                        "sku": variant.sku,
                        "quantity": body.quantity,
                        "financial_status": order.financial_status,
                    },
                    "available": level.available if level is not None else None,
                }
        except OutOfStockError as exc:
            return JSONResponse(
                status_code=422,
                content={
                    "errors": {
                        "line_items": [
                            {
                                "code": "not_enough_in_stock",
                                "message": short.message,
                                "variant_id": short.variant_id,
                                "sku": short.sku,
                                "requested": short.requested,
                                "available": short.available,
                            }
                            for short in exc.shortages
                        ]
                    }
                },
            )
        except StateError as exc:
            raise state_error(exc) from None

    @router.get("/orders/{order_id}")
    async def get_order(order_id: int) -> dict[str, Any]:
        try:
            return {"order": order_json(sandbox.state.order(order_id))}
        except StateError as exc:
            raise state_error(exc) from None

    @router.post("/orders/{order_id}/pay")
    async def pay(order_id: int) -> dict[str, Any]:
        try:
            return {"order": order_json(sandbox.state.pay(order_id))}
        except StateError as exc:
            raise state_error(exc) from None

    @router.post("/orders/{order_id}/fulfill")
    async def fulfill(order_id: int, body: FulfillIn | None = None) -> dict[str, Any]:
        body = body or FulfillIn()
        state = sandbox.state
        try:
            with state.lock:
                order = state.order(order_id)
                lines = (
                    [(line_id(order, item), item.quantity) for item in body.line_items]
                    if body.line_items
                    else None
                )
                tracking = None
                if body.tracking_number or body.tracking_company:
                    tracking = TrackingInfo(
                        body.tracking_number, body.tracking_company, body.tracking_url
                    )
                else:
                    tracking = sandbox.generator.tracking(sandbox.stream.rng)
                fulfillment = state.fulfill_lines(
                    order_id, lines, tracking=tracking, source="sandbox"
                )
                return {
                    "fulfillment": render_fulfillment(order, fulfillment, ctx()),
                    "order": order_json(order),
                }
        except StateError as exc:
            raise state_error(exc) from None

    @router.post("/orders/{order_id}/cancel")
    async def cancel(order_id: int, body: CancelIn | None = None) -> dict[str, Any]:
        body = body or CancelIn()
        try:
            order = sandbox.state.cancel_order(
                order_id, reason=body.reason, restock=body.restock, refund=body.refund
            )
            return {"order": order_json(order)}
        except StateError as exc:
            raise state_error(exc) from None

    @router.post("/orders/{order_id}/refund")
    async def refund(order_id: int, body: RefundIn) -> dict[str, Any]:
        state = sandbox.state
        try:
            with state.lock:
                order = state.order(order_id)
                lines = [
                    RefundLineRequest(line_id(order, item), item.quantity, item.restock_type)
                    for item in body.line_items
                ]
                shipping: Decimal | Literal["full"] | None
                if body.shipping is True:
                    shipping = "full"
                elif body.shipping is False:
                    shipping = None
                else:
                    shipping = body.shipping
                state.refund(
                    order_id,
                    lines,
                    shipping=shipping,
                    amount=body.amount,
                    note=body.note,
                    source="sandbox",
                )
                return {"order": order_json(order)}
        except StateError as exc:
            raise state_error(exc) from None

    @router.post("/orders/{order_id}/close")
    async def close(order_id: int) -> dict[str, Any]:
        try:
            return {"order": order_json(sandbox.state.close_order(order_id))}
        except StateError as exc:
            raise state_error(exc) from None

    @router.post("/orders/{order_id}/open")
    async def reopen(order_id: int) -> dict[str, Any]:
        try:
            return {"order": order_json(sandbox.state.reopen_order(order_id))}
        except StateError as exc:
            raise state_error(exc) from None

    @router.delete("/orders/{order_id}")
    async def delete(order_id: int) -> dict[str, Any]:
        try:
            sandbox.state.delete_order(order_id)
        except StateError as exc:
            raise state_error(exc) from None
        return {"deleted": order_id}

    # what clients did ----------------------------------------------------------------

    @router.get("/shipments")
    async def shipments(order_id: int | None = None) -> dict[str, Any]:
        state = sandbox.state
        rows = []
        with state.lock:
            for record in state.shipments:
                if order_id is not None and record.order_id != order_id:
                    continue
                order = state.orders.get(record.order_id)
                if order is None:
                    continue
                fulfillment = next(
                    (f for f in order.fulfillments if f.id == record.fulfillment_id), None
                )
                if fulfillment is None:
                    continue
                rows.append(
                    {
                        "recorded_at": record.recorded_at.isoformat(),
                        "order_id": order.id,
                        "order_name": order.name,
                        "fulfillment_id": fulfillment.id,
                        "status": fulfillment.status,
                        "tracking_company": fulfillment.tracking_company,
                        "tracking_numbers": list(fulfillment.tracking_numbers),
                        "tracking_urls": list(fulfillment.tracking_urls),
                        "notify_customer": fulfillment.notify_customer,
                        "location_id": fulfillment.location_id,
                        "line_items": [
                            {
                                "line_item_id": fl.line_item_id,
                                "sku": order.line(fl.line_item_id).sku,
                                "quantity": fl.quantity,
                            }
                            for fl in fulfillment.lines
                        ],
                        "order_fulfillment_status": order.fulfillment_status,
                    }
                )
        return {"shipments": rows}

    @router.get("/inventory/changes")
    async def stock_changes(sku: str | None = None) -> dict[str, Any]:
        state = sandbox.state
        with state.lock:
            rows = [
                {
                    "recorded_at": r.recorded_at.isoformat(),
                    "operation": r.operation,
                    "inventory_item_id": r.inventory_item_id,
                    "location_id": r.location_id,
                    "sku": r.sku,
                    "previous": r.previous,
                    "available": r.available,
                }
                for r in state.stock_changes
                if sku is None or r.sku == sku
            ]
        return {"changes": rows}

    # catalog -------------------------------------------------------------------------

    def product_json(product: Product) -> dict[str, Any]:
        state = sandbox.state
        variants = [state.variants[vid] for vid in product.variant_ids]
        return {
            "id": product.id,
            "title": product.title,
            "status": product.status,
            "variants": [
                {
                    "id": v.id,
                    "title": v.title,
                    "sku": v.sku,
                    "inventory_item_id": v.inventory_item_id,
                    "available": state.available(v.inventory_item_id),
                    "levels": [
                        {"location_id": level.location_id, "available": level.available}
                        for (item_id, _), level in state.levels.items()
                        if item_id == v.inventory_item_id
                    ],
                }
                for v in variants
            ],
        }

    @router.get("/products")
    async def products(status: str | None = None) -> dict[str, Any]:
        state = sandbox.state
        with state.lock:
            return {
                "products": [
                    product_json(p)
                    for p in state.products.values()
                    if status is None or p.status == status
                ]
            }

    @router.post("/products", status_code=201)
    async def create_product(body: CreateProductIn) -> dict[str, Any]:
        """Add a product as the merchant would in the admin (the Admin API's product writes
        are not emulated); stock is placed at the primary location."""
        state = sandbox.state
        with state.lock:
            product = _product(sandbox, body)
            return {"product": product_json(product)}

    @router.get("/inventory")
    async def inventory() -> dict[str, Any]:
        state = sandbox.state
        with state.lock:
            rows = []
            for variant in state.variants.values():
                levels = [
                    {"location_id": level.location_id, "available": level.available}
                    for (item_id, _), level in state.levels.items()
                    if item_id == variant.inventory_item_id
                ]
                rows.append(
                    {
                        "sku": variant.sku,
                        "product_id": variant.product_id,
                        "variant_id": variant.id,
                        "inventory_item_id": variant.inventory_item_id,
                        "levels": levels,
                    }
                )
        return {"inventory": rows}

    # pushes --------------------------------------------------------------------------

    @router.get("/pushes")
    async def pushes(
        topic: str | None = None,
        state: DeliveryState | None = None,
        include_body: bool = False,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> dict[str, Any]:
        records = [
            r
            for r in sandbox.dispatcher.records()
            if (topic is None or r.request.topic == topic) and (state is None or r.state == state)
        ]
        return {"pushes": [r.to_dict(include_body=include_body) for r in records[-limit:]]}

    @router.post("/pushes/{record_id}/redeliver")
    async def redeliver(record_id: str) -> dict[str, Any]:
        try:
            return {"push": sandbox.dispatcher.redeliver(record_id).to_dict()}
        except KeyError:
            raise HTTPException(status_code=404, detail=f"no push {record_id}") from None

    @router.post("/pushes/wait")
    async def wait_pushes(within: Annotated[float, Query(gt=0, le=120)] = 10.0) -> dict[str, Any]:
        idle = await sandbox.dispatcher.wait_idle(within=within)
        return {"idle": idle}

    @router.post("/push_faults")
    async def push_faults(body: PushFaultIn) -> dict[str, Any]:
        sandbox.dispatcher.duplicate_next(body.duplicate)
        sandbox.dispatcher.reorder_next(body.reorder)
        return sandbox.dispatcher.chaos()

    # faults, token, rate limit, stream -----------------------------------------------------

    @router.get("/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": [rule.to_dict() for rule in sandbox.faults.rules()]}

    @router.post("/faults", status_code=201)
    async def add_fault(body: FaultIn) -> dict[str, Any]:
        if body.kind == FaultKind.ERROR and body.status is not None and body.status < 500:
            raise HTTPException(status_code=422, detail="error faults need a 5xx status")
        try:
            rule = sandbox.faults.add(
                body.kind,
                count=body.count,
                path_pattern=body.path_pattern,
                method=body.method,
                status=body.status,
                seconds=body.seconds,
                skip=body.skip,
            )
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {"fault": rule.to_dict()}

    @router.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        return {"removed": sandbox.faults.clear()}

    @router.delete("/faults/{fault_id}")
    async def remove_fault(fault_id: str) -> dict[str, Any]:
        if not sandbox.faults.remove(fault_id):
            raise HTTPException(status_code=404, detail=f"no fault {fault_id}")
        return {"removed": 1}

    @router.post("/token")
    async def token(body: TokenIn) -> dict[str, Any]:
        tokens = sandbox.tokens
        if body.action == "expire":
            tokens.expire()
        elif body.action == "rotate":
            if not body.token:
                raise HTTPException(status_code=422, detail="rotate needs a new token")
            tokens.rotate(body.token)
        else:
            tokens.restore(body.token or sandbox.options.access_token)
        return {
            "expired": tokens.expired,
            "token_rotated": tokens.current != sandbox.options.access_token,
        }

    @router.get("/rate_limit")
    async def get_rate_limit() -> dict[str, Any]:
        bucket = sandbox.bucket
        return {
            "used": bucket.used(),
            "bucket_size": bucket.capacity,
            "leak_per_second": bucket.leak_per_second,
        }

    @router.post("/rate_limit")
    async def set_rate_limit(body: RateLimitIn) -> dict[str, Any]:
        sandbox.bucket.configure(
            capacity=body.bucket_size, leak_per_second=body.leak_per_second, level=body.level
        )
        return await get_rate_limit()

    @router.post("/stream")
    async def stream(body: StreamIn) -> dict[str, Any]:
        sandbox.stream.rate = body.orders_per_second
        return {"orders_per_second": sandbox.stream.rate}

    @router.post("/tick")
    async def tick(body: TickIn | None = None) -> dict[str, Any]:
        body = body or TickIn()
        return {"steps": [sandbox.stream.step().to_dict() for _ in range(body.steps)]}

    return router


def _product(sandbox: ShopifySandbox, body: CreateProductIn) -> Product:
    """A new product with its variants, inventory items and stock at the primary location."""
    state = sandbox.state
    at = state.now()
    product_id = state.ids.next("product")
    location_id = state.primary_location_id
    variants: list[Variant] = []
    items: list[InventoryItem] = []
    titles: list[str] = []
    for position, spec in enumerate(body.variants, start=1):
        title = spec.title or ("Default Title" if len(body.variants) == 1 else f"Option {position}")
        titles.append(title)
        item = InventoryItem(
            id=state.ids.next("inventory_item"),
            sku=spec.sku,
            cost=(spec.price * Decimal("0.42")).quantize(Decimal("0.01")),
            created_at=at,
            updated_at=at,
        )
        items.append(item)
        variants.append(
            Variant(
                id=state.ids.next("variant"),
                product_id=product_id,
                title=title,
                sku=spec.sku,
                price=spec.price,
                compare_at_price=None,
                position=position,
                option1=title,
                option2=None,
                option3=None,
                barcode=None,
                grams=200,
                inventory_item_id=item.id,
                created_at=at,
                updated_at=at,
                inventory_policy=spec.inventory_policy,
            )
        )
    handle = "-".join(
        part
        for part in "".join(c.lower() if c.isalnum() else "-" for c in body.title).split("-")
        if part
    )
    product = Product(
        id=product_id,
        title=body.title,
        handle=f"{handle or 'product'}-{product_id}",
        vendor=body.vendor,
        product_type=body.product_type,
        body_html=f"<p>{body.title}</p>",
        tags="",
        status=body.status,
        created_at=at,
        updated_at=at,
        published_at=at if body.status == "active" else None,
        options=[
            ProductOption(
                id=state.ids.next("product_option"),
                name=body.option_name,
                position=1,
                values=titles,
            )
        ],
        variant_ids=[v.id for v in variants],
    )
    state.add_product(product, variants, items)
    for item, spec in zip(items, body.variants, strict=True):
        state.seed_level(InventoryLevel(item.id, location_id, spec.available, at))
    return product


def _draft(sandbox: ShopifySandbox, body: CreateOrdersIn) -> OrderDraft:
    """An order draft from explicit parts, generated values filling the gaps."""
    state = sandbox.state
    rng = sandbox.stream.rng
    generated = sandbox.generator.draft(rng, body.payment)
    lines = generated.lines
    if body.line_items:
        lines = []
        for item in body.line_items:
            if item.variant_id is not None:
                variant = state.variant(item.variant_id)
            elif item.sku is not None:
                variant = state.variant_by_sku(item.sku)
            else:
                raise InvalidError({"line_items": ["sku or variant_id is required"]})
            lines.append(LineRequest(variant.id, item.quantity, item.price))
    buyer = generated.buyer
    if body.buyer is not None:
        b = body.buyer
        address = Address(
            first_name=b.first_name,
            last_name=b.last_name,
            address1=b.address1,
            address2=b.address2,
            city=b.city,
            province=b.province,
            province_code=b.province_code,
            country=b.country,
            country_code=b.country_code,
            zip=b.zip,
            phone=b.phone,
        )
        buyer = BuyerRequest(b.first_name, b.last_name, b.email, b.phone, address)
    discount = generated.discount
    if body.discount is not None:
        discount = DiscountRequest(body.discount.code, body.discount.value, body.discount.type)
    shipping = generated.shipping
    if body.shipping is not None:
        shipping = ShippingRequest(body.shipping.title, body.shipping.code, body.shipping.price)
    payment: PaymentPlan = body.payment or generated.payment
    return OrderDraft(
        lines=lines,
        buyer=buyer,
        payment=payment,
        gateway="manual" if payment == "pending" else generated.gateway,
        discount=discount,
        shipping=shipping,
        note=body.note if body.note is not None else generated.note,
        tags=body.tags or generated.tags,
        source_name=body.source_name or "web",
        test=body.test,
        browser_ip=generated.browser_ip,
        customer_locale=generated.customer_locale,
    )
