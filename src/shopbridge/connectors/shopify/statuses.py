"""Shopify order, line and fulfillment states -> unified statuses.

A REST order has no single status. Its state is the pair `financial_status` x
`fulfillment_status`, plus `cancelled_at` and `closed_at`, plus two facts that change what
"unpaid" means (`payment_terms`) and whether anything may ship now (fulfillment holds, which
REST only shows on fulfillment orders). The rules, in order:

1. `cancelled_at` set -> `cancelled`, whatever else the order says.
2. A `financial_status` or `fulfillment_status` value outside the tables -> `unknown` (the
   native values stay in `native_status`, the sync goes on).
3. `ORDER_STATUS_TABLE[(financial_status, fulfillment_status)]`, where GraphQL-style display
   values that may appear in `fulfillment_status` are first folded onto the REST ones
   (`FULFILLMENT_ALIASES`).
4. Unpaid (`pending`, `expired`, `partially_paid`) and nothing shipped, but the order has
   payment terms (B2B net terms, "due on fulfillment"): the merchant agreed to be paid later,
   so the order is `awaiting_shipment`.
5. `awaiting_shipment` while every unfulfilled item is on hold or scheduled -> `on_hold`.
6. `shipped` and `closed_at` set (archived) -> `completed`.

`native_status` records the inputs as `financial_status=<v>;fulfillment_status=<v|null>`,
followed by `;cancelled`, `;closed`, `;payment_terms` and `;held` when they applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from shopbridge.core import OrderStatus, RefundStatus, ShipmentStatus

__all__ = [
    "FINANCIAL_STATUSES",
    "FULFILLMENT_ALIASES",
    "FULFILLMENT_STATUSES",
    "FULFILLMENT_STATUS_MAP",
    "HELD_FULFILLMENT_ORDER_STATUSES",
    "HOLD_ALIASES",
    "LINE_STATUS_MAP",
    "ORDER_STATUS_TABLE",
    "SHIPMENT_STATUS_MAP",
    "native_order_status",
    "order_status",
    "refund_status",
    "shipment_status",
]

S = OrderStatus

FINANCIAL_STATUSES: Final = (
    "pending",
    "authorized",
    "partially_paid",
    "paid",
    "partially_refunded",
    "refunded",
    "voided",
    "expired",
)
"""REST `financial_status` values (`expired` comes from GraphQL `OrderDisplayFinancialStatus`
and is accepted in case REST shows it)."""

FULFILLMENT_STATUSES: Final[tuple[str | None, ...]] = (None, "partial", "fulfilled", "restocked")
"""REST order `fulfillment_status` values; `null` means nothing fulfilled yet."""

FULFILLMENT_ALIASES: Final[Mapping[str, str | None]] = MappingProxyType(
    {
        "unfulfilled": None,
        "open": None,
        "in_progress": None,
        "pending_fulfillment": None,
        "request_declined": None,
        "on_hold": None,
        "scheduled": None,
        "partially_fulfilled": "partial",
        "unshipped": None,
        "shipped": "fulfilled",
    }
)
"""GraphQL display fulfillment values and REST filter words, folded onto REST values. They
are not documented for the REST field; accepting them keeps a future REST change from
turning every order `unknown`."""

HOLD_ALIASES: Final = frozenset({"on_hold", "scheduled"})
"""Display fulfillment values that mean "nothing may ship now"."""

_P, _A, _H, _D = S.PENDING_PAYMENT, S.AWAITING_SHIPMENT, S.PARTIALLY_SHIPPED, S.SHIPPED
_C, _X, _DEP = S.CLOSED, S.CANCELLED, S.PRESALE_DEPOSIT_PAID

_ROWS: Final[dict[str, tuple[OrderStatus, OrderStatus, OrderStatus, OrderStatus]]] = {
    # financial_status:     null  partial fulfilled restocked
    "pending": (_P, _H, _D, _X),
    "expired": (_P, _H, _D, _X),
    "authorized": (_A, _H, _D, _X),
    "partially_paid": (_DEP, _H, _D, _C),
    "paid": (_A, _H, _D, _C),
    "partially_refunded": (_A, _H, _D, _C),
    "refunded": (_C, _C, _C, _C),
    "voided": (_X, _H, _D, _X),
}

ORDER_STATUS_TABLE: Final[Mapping[tuple[str, str | None], OrderStatus]] = MappingProxyType(
    {
        (financial, fulfillment): status
        for financial, row in _ROWS.items()
        for fulfillment, status in zip(FULFILLMENT_STATUSES, row, strict=True)
    }
)
"""Open (not cancelled, not closed) orders. Why each column reads as it does:

- `null`: nothing shipped. Unpaid -> `pending_payment`; partially paid without payment terms
  is a deposit -> `presale_deposit_paid`; authorized or paid -> `awaiting_shipment`; all
  refunded -> `closed`; authorization voided -> `cancelled` (no sale).
- `partial` / `fulfilled`: goods left the warehouse whatever the payment state, so the ERP sees
  `partially_shipped` / `shipped` (fully refunded is still `closed`).
- `restocked`: every item went back to stock. Nothing was paid (pending, expired, authorized,
  voided) -> `cancelled`; money was taken -> `closed`.
"""

_UNPAID: Final = frozenset({"pending", "expired", "partially_paid"})

LINE_STATUS_MAP: Final[Mapping[str | None, OrderStatus | None]] = MappingProxyType(
    {None: None, "partial": S.PARTIALLY_SHIPPED, "fulfilled": S.SHIPPED, "restocked": S.CLOSED}
)
"""Line item `fulfillment_status` -> `OrderLine.status` (`null`: the order status says it)."""

FULFILLMENT_STATUS_MAP: Final[Mapping[str, ShipmentStatus]] = MappingProxyType(
    {
        "pending": ShipmentStatus.PENDING,
        "open": ShipmentStatus.PENDING,
        "success": ShipmentStatus.SHIPPED,
        "cancelled": ShipmentStatus.CANCELLED,
        "error": ShipmentStatus.EXCEPTION,
        "failure": ShipmentStatus.EXCEPTION,
    }
)
"""Fulfillment `status` -> `Shipment.status`."""

SHIPMENT_STATUS_MAP: Final[Mapping[str, ShipmentStatus]] = MappingProxyType(
    {
        "label_printed": ShipmentStatus.SHIPPED,
        "label_purchased": ShipmentStatus.SHIPPED,
        "confirmed": ShipmentStatus.SHIPPED,
        "in_transit": ShipmentStatus.IN_TRANSIT,
        "out_for_delivery": ShipmentStatus.OUT_FOR_DELIVERY,
        "ready_for_pickup": ShipmentStatus.OUT_FOR_DELIVERY,
        "attempted_delivery": ShipmentStatus.EXCEPTION,
        "delivered": ShipmentStatus.DELIVERED,
        "failure": ShipmentStatus.EXCEPTION,
    }
)
"""Carrier progress (`shipment_status`) of a successful fulfillment -> `Shipment.status`."""

HELD_FULFILLMENT_ORDER_STATUSES: Final = frozenset({"on_hold", "scheduled"})
"""Fulfillment order statuses that forbid shipping now (a hold, or a later `fulfill_at`)."""


def native_order_status(
    financial: str | None,
    fulfillment: str | None,
    *,
    cancelled: bool,
    closed: bool,
    payment_terms: bool = False,
    held: bool = False,
) -> str:
    """The documented `native_status` form: `financial_status=paid;fulfillment_status=null`,
    plus `;cancelled`, `;closed`, `;payment_terms`, `;held` flags when they apply."""
    parts = [
        f"financial_status={financial if financial is not None else 'null'}",
        f"fulfillment_status={fulfillment if fulfillment is not None else 'null'}",
    ]
    for flag, name in (
        (cancelled, "cancelled"),
        (closed, "closed"),
        (payment_terms, "payment_terms"),
        (held, "held"),
    ):
        if flag:
            parts.append(name)
    return ";".join(parts)


def order_status(
    financial: str | None,
    fulfillment: str | None,
    *,
    cancelled: bool,
    closed: bool,
    payment_terms: bool = False,
    held: bool = False,
) -> OrderStatus:
    """Unified order status (rules in the module docstring)."""
    if cancelled:
        return S.CANCELLED
    if financial is None or financial not in FINANCIAL_STATUSES:
        return S.UNKNOWN
    if fulfillment is not None and fulfillment not in FULFILLMENT_STATUSES:
        if fulfillment not in FULFILLMENT_ALIASES:
            return S.UNKNOWN
        held = held or fulfillment in HOLD_ALIASES
        fulfillment = FULFILLMENT_ALIASES[fulfillment]
    status = ORDER_STATUS_TABLE[(financial, fulfillment)]
    if payment_terms and fulfillment is None and financial in _UNPAID:
        status = S.AWAITING_SHIPMENT
    if held and status is S.AWAITING_SHIPMENT:
        status = S.ON_HOLD
    if closed and status is S.SHIPPED:
        status = S.COMPLETED
    return status


def refund_status(financial: str | None, *, refund_pending: bool) -> RefundStatus:
    """Unified refund summary: `refunded` / `partially_refunded` straight from
    `financial_status`; a refund transaction still `pending` -> `processing`."""
    if financial == "refunded":
        return RefundStatus.REFUNDED
    if financial == "partially_refunded":
        return RefundStatus.PARTIALLY_REFUNDED
    if financial is None or financial not in FINANCIAL_STATUSES:
        return RefundStatus.UNKNOWN
    return RefundStatus.PROCESSING if refund_pending else RefundStatus.NONE


def shipment_status(status: str | None, shipment: str | None) -> ShipmentStatus:
    """Unified status of one fulfillment from its `status` and carrier `shipment_status`."""
    if status is None:
        return ShipmentStatus.UNKNOWN
    base = FULFILLMENT_STATUS_MAP.get(status, ShipmentStatus.UNKNOWN)
    if base is ShipmentStatus.SHIPPED and shipment is not None:
        return SHIPMENT_STATUS_MAP.get(shipment, ShipmentStatus.UNKNOWN)
    return base
