"""Taobao trade, sub-order and refund states -> unified statuses.

A trade has one `status` (documented values: `TRADE_STATUSES`). Presale (定金预售) trades,
`type=step`, add `step_trade_status`. The rules, in order:

1. `step_trade_status=FRONT_PAID_FRONT_FORFEITED` (balance never paid, deposit kept) ->
   `cancelled`, whatever `status` says.
2. `step_trade_status=FRONT_PAID_FINAL_NOPAID` while `status` is still unpaid
   (`WAIT_BUYER_PAY`, `TRADE_NO_CREATE_PAY`, `PAY_PENDING`) -> `presale_deposit_paid`.
3. `ORDER_STATUS_TABLE[status]`.
4. A `status` outside the table -> `unknown` (the native value stays in `native_status`).

`native_status` is the plain `status` value, followed by `;step_trade_status=<value>` when
the trade has one: `WAIT_BUYER_PAY;step_trade_status=FRONT_PAID_FINAL_NOPAID`.

Refunds live on the sub-orders (`orders.order[].refund_status`); the order's refund status is
rolled up from them (`order_refund_status`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from shopbridge.core import OrderStatus, PresaleStage, RefundStatus, ShipmentStatus

__all__ = [
    "LINE_REFUND_STATUS_MAP",
    "ORDER_STATUS_TABLE",
    "PRESALE_STAGE_MAP",
    "REFUND_STATUSES",
    "SHIPPABLE_STATUSES",
    "SHIPPED_STATUSES",
    "STEP_TRADE_STATUSES",
    "TRADE_STATUSES",
    "UNPAID_STATUSES",
    "line_status",
    "native_order_status",
    "order_refund_status",
    "order_status",
    "presale_stage",
    "refund_status",
    "shipment_status",
]

S = OrderStatus

ORDER_STATUS_TABLE: Final[Mapping[str, OrderStatus]] = MappingProxyType(
    {
        "TRADE_NO_CREATE_PAY": S.PENDING_PAYMENT,  # no Alipay trade created yet
        "WAIT_BUYER_PAY": S.PENDING_PAYMENT,
        "PAY_PENDING": S.PENDING_PAYMENT,  # international card payment being confirmed
        "WAIT_PRE_AUTH_CONFIRM": S.PENDING_PAYMENT,  # 0-yuan purchase contract in progress
        "WAIT_SELLER_SEND_GOODS": S.AWAITING_SHIPMENT,
        "PAID_FORBID_CONSIGN": S.ON_HOLD,  # paid, shipping forbidden (group buy, control)
        "SELLER_CONSIGNED_PART": S.PARTIALLY_SHIPPED,
        "WAIT_BUYER_CONFIRM_GOODS": S.SHIPPED,
        "TRADE_BUYER_SIGNED": S.DELIVERED,  # cash on delivery: signed for
        "TRADE_FINISHED": S.COMPLETED,
        "TRADE_CLOSED": S.CLOSED,  # closed after payment: refunded in full
        "TRADE_CLOSED_BY_TAOBAO": S.CANCELLED,  # closed before payment: never ship
    }
)
"""Trade `status` -> unified status (the 12 documented values)."""

TRADE_STATUSES: Final = tuple(ORDER_STATUS_TABLE)

UNPAID_STATUSES: Final = frozenset({"TRADE_NO_CREATE_PAY", "WAIT_BUYER_PAY", "PAY_PENDING"})
SHIPPABLE_STATUSES: Final = frozenset({"WAIT_SELLER_SEND_GOODS", "SELLER_CONSIGNED_PART"})
"""Trade statuses `taobao.logistics.offline.send` can act on."""
SHIPPED_STATUSES: Final = frozenset(
    {"SELLER_CONSIGNED_PART", "WAIT_BUYER_CONFIRM_GOODS", "TRADE_BUYER_SIGNED", "TRADE_FINISHED"}
)
"""Sub-order statuses that mean the goods left the warehouse."""

PRESALE_STAGE_MAP: Final[Mapping[str, PresaleStage]] = MappingProxyType(
    {
        "FRONT_NOPAID_FINAL_NOPAID": PresaleStage.DEPOSIT_UNPAID,
        "FRONT_PAID_FINAL_NOPAID": PresaleStage.DEPOSIT_PAID,
        "FRONT_PAID_FINAL_PAID": PresaleStage.BALANCE_PAID,
        "FRONT_PAID_FRONT_FORFEITED": PresaleStage.DEPOSIT_FORFEITED,
    }
)
"""`step_trade_status` -> presale stage."""

STEP_TRADE_STATUSES: Final = tuple(PRESALE_STAGE_MAP)

LINE_REFUND_STATUS_MAP: Final[Mapping[str, RefundStatus]] = MappingProxyType(
    {
        "NO_REFUND": RefundStatus.NONE,
        "WAIT_SELLER_AGREE": RefundStatus.REQUESTED,
        "WAIT_BUYER_RETURN_GOODS": RefundStatus.PROCESSING,
        "WAIT_SELLER_CONFIRM_GOODS": RefundStatus.PROCESSING,
        "WAIT_SELLER_CONSIGN_GOODS": RefundStatus.PROCESSING,  # exchange: reship due
        "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS": RefundStatus.PROCESSING,
        "EXCHANGE_TRANSFORM_TO_REFUND": RefundStatus.PROCESSING,
        "SELLER_REFUSE_BUYER": RefundStatus.REJECTED,
        "CLOSED": RefundStatus.CANCELLED,  # refund closed without money back
        "SUCCESS": RefundStatus.REFUNDED,
    }
)
"""Sub-order `refund_status` -> unified line refund status. An absent or empty value is
`none`."""

REFUND_STATUSES: Final = tuple(LINE_REFUND_STATUS_MAP)

_DELIVERED_LINE_STATUSES: Final = frozenset({"TRADE_BUYER_SIGNED", "TRADE_FINISHED"})


def presale_stage(step_trade_status: str | None) -> PresaleStage | None:
    if step_trade_status is None:
        return None
    return PRESALE_STAGE_MAP.get(step_trade_status, PresaleStage.UNKNOWN)


def order_status(status: str | None, step_trade_status: str | None = None) -> OrderStatus:
    """Unified order status (rules in the module docstring)."""
    stage = presale_stage(step_trade_status)
    if stage is PresaleStage.DEPOSIT_FORFEITED:
        return S.CANCELLED
    if stage is PresaleStage.DEPOSIT_PAID and status in UNPAID_STATUSES:
        return S.PRESALE_DEPOSIT_PAID
    if status is None:
        return S.UNKNOWN
    return ORDER_STATUS_TABLE.get(status, S.UNKNOWN)


def native_order_status(status: str | None, step_trade_status: str | None = None) -> str | None:
    """The documented `native_status` form (see the module docstring)."""
    if status is None and step_trade_status is None:
        return None
    text = status if status is not None else "null"
    if step_trade_status is not None:
        text += f";step_trade_status={step_trade_status}"
    return text


def line_status(status: str | None) -> OrderStatus | None:
    """Sub-order `status` -> `OrderLine.status` (None when the sub-order has none)."""
    if status is None:
        return None
    return ORDER_STATUS_TABLE.get(status, S.UNKNOWN)


def refund_status(native: str | None) -> RefundStatus:
    """One sub-order's `refund_status`."""
    if native is None:
        return RefundStatus.NONE
    return LINE_REFUND_STATUS_MAP.get(native, RefundStatus.UNKNOWN)


def order_refund_status(
    line_refunds: Iterable[RefundStatus], trade_status: str | None
) -> RefundStatus:
    """Roll the sub-orders' refund states up to the order, first rule that applies:

    1. any line `unknown` -> `unknown`;
    2. any line `requested` -> `requested` (the seller must answer);
    3. any line `processing` -> `processing`;
    4. every line `refunded` -> `refunded`; some -> `partially_refunded`;
    5. any line `rejected` -> `rejected`; else any `cancelled` -> `cancelled`;
    6. a `TRADE_CLOSED` trade (closed after payment *because* it was refunded) whose lines say
       nothing -> `refunded`;
    7. otherwise `none`.
    """
    states = list(line_refunds)
    found = set(states)
    if RefundStatus.UNKNOWN in found:
        return RefundStatus.UNKNOWN
    for wanted in (RefundStatus.REQUESTED, RefundStatus.PROCESSING):
        if wanted in found:
            return wanted
    if RefundStatus.REFUNDED in found:
        if all(state is RefundStatus.REFUNDED for state in states):
            return RefundStatus.REFUNDED
        return RefundStatus.PARTIALLY_REFUNDED
    for wanted in (RefundStatus.REJECTED, RefundStatus.CANCELLED):
        if wanted in found:
            return wanted
    if trade_status == "TRADE_CLOSED":
        return RefundStatus.REFUNDED
    return RefundStatus.NONE


def shipment_status(line_statuses: Iterable[str | None]) -> ShipmentStatus:
    """Status of a parcel read back from its sub-orders: `delivered` once every sub-order in
    it is signed for or finished, else `shipped` (a tracking number was recorded)."""
    values = list(line_statuses)
    if values and all(value in _DELIVERED_LINE_STATUSES for value in values):
        return ShipmentStatus.DELIVERED
    return ShipmentStatus.SHIPPED
