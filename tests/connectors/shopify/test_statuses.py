"""Every documented Shopify state lands on a defined unified status."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from shopbridge.connectors.shopify import statuses
from shopbridge.connectors.shopify.carriers import SHOPIFY_TRACKING_COMPANIES
from shopbridge.connectors.shopify.mapping import map_order
from shopbridge.connectors.shopify.statuses import (
    FINANCIAL_STATUSES,
    FULFILLMENT_ALIASES,
    FULFILLMENT_STATUSES,
    ORDER_STATUS_TABLE,
    order_status,
    refund_status,
    shipment_status,
)
from shopbridge.core import OrderStatus, RefundStatus, ShipmentStatus
from tests.connectors.shopify.helpers import SHOP_ID, load

S = OrderStatus


def test_table_covers_every_documented_pair() -> None:
    pairs = set(itertools.product(FINANCIAL_STATUSES, FULFILLMENT_STATUSES))
    assert set(ORDER_STATUS_TABLE) == pairs


@pytest.mark.parametrize(
    ("financial", "fulfillment"),
    list(itertools.product(FINANCIAL_STATUSES, (*FULFILLMENT_STATUSES, *FULFILLMENT_ALIASES))),
)
def test_no_documented_combination_is_unknown(financial: str, fulfillment: str | None) -> None:
    for cancelled, closed, payment_terms, held in itertools.product((False, True), repeat=4):
        status = order_status(
            financial,
            fulfillment,
            cancelled=cancelled,
            closed=closed,
            payment_terms=payment_terms,
            held=held,
        )
        assert status is not S.UNKNOWN
        if cancelled:
            assert status is S.CANCELLED
    assert refund_status(financial, refund_pending=False) is not RefundStatus.UNKNOWN


@pytest.mark.parametrize(
    ("financial", "fulfillment", "expected"),
    [
        ("pending", None, S.PENDING_PAYMENT),
        ("expired", None, S.PENDING_PAYMENT),
        ("authorized", None, S.AWAITING_SHIPMENT),
        ("partially_paid", None, S.PRESALE_DEPOSIT_PAID),
        ("paid", None, S.AWAITING_SHIPMENT),
        ("partially_refunded", None, S.AWAITING_SHIPMENT),
        ("refunded", None, S.CLOSED),
        ("voided", None, S.CANCELLED),
        ("pending", "partial", S.PARTIALLY_SHIPPED),
        ("paid", "partial", S.PARTIALLY_SHIPPED),
        ("refunded", "partial", S.CLOSED),
        ("pending", "fulfilled", S.SHIPPED),
        ("paid", "fulfilled", S.SHIPPED),
        ("partially_refunded", "fulfilled", S.SHIPPED),
        ("refunded", "fulfilled", S.CLOSED),
        ("voided", "fulfilled", S.SHIPPED),
        ("pending", "restocked", S.CANCELLED),
        ("authorized", "restocked", S.CANCELLED),
        ("paid", "restocked", S.CLOSED),
        ("refunded", "restocked", S.CLOSED),
        ("paid", "unfulfilled", S.AWAITING_SHIPMENT),
        ("paid", "in_progress", S.AWAITING_SHIPMENT),
        ("paid", "partially_fulfilled", S.PARTIALLY_SHIPPED),
        ("paid", "on_hold", S.ON_HOLD),
        ("paid", "scheduled", S.ON_HOLD),
        ("pending", "on_hold", S.PENDING_PAYMENT),
    ],
)
def test_open_order_statuses(financial: str, fulfillment: str | None, expected: S) -> None:
    assert order_status(financial, fulfillment, cancelled=False, closed=False) is expected


def test_modifiers() -> None:
    assert order_status("paid", "fulfilled", cancelled=False, closed=True) is S.COMPLETED
    # archiving does not finish an order that still has goods to ship
    assert order_status("paid", "partial", cancelled=False, closed=True) is S.PARTIALLY_SHIPPED
    assert order_status("paid", None, cancelled=False, closed=True) is S.AWAITING_SHIPMENT
    assert order_status("paid", None, cancelled=False, closed=False, held=True) is S.ON_HOLD
    assert (
        order_status("pending", None, cancelled=False, closed=False, payment_terms=True)
        is S.AWAITING_SHIPMENT
    )
    assert (
        order_status("partially_paid", None, cancelled=False, closed=False, payment_terms=True)
        is S.AWAITING_SHIPMENT
    )
    assert order_status("paid", "fulfilled", cancelled=True, closed=True) is S.CANCELLED


@pytest.mark.parametrize(
    ("financial", "fulfillment"),
    [("chargeback", None), (None, None), ("paid", "teleported"), ("PAID", None)],
)
def test_unknown_values(financial: str | None, fulfillment: str | None) -> None:
    assert order_status(financial, fulfillment, cancelled=False, closed=False) is S.UNKNOWN
    # a cancellation is a cancellation whatever else is new
    assert order_status(financial, fulfillment, cancelled=True, closed=False) is S.CANCELLED


def test_refund_status() -> None:
    assert refund_status("refunded", refund_pending=False) is RefundStatus.REFUNDED
    assert refund_status("partially_refunded", refund_pending=True) is (
        RefundStatus.PARTIALLY_REFUNDED
    )
    assert refund_status("paid", refund_pending=True) is RefundStatus.PROCESSING
    assert refund_status("paid", refund_pending=False) is RefundStatus.NONE
    assert refund_status("mystery", refund_pending=False) is RefundStatus.UNKNOWN


@pytest.mark.parametrize(
    ("status", "shipment", "expected"),
    [
        ("success", None, ShipmentStatus.SHIPPED),
        ("success", "label_printed", ShipmentStatus.SHIPPED),
        ("success", "confirmed", ShipmentStatus.SHIPPED),
        ("success", "in_transit", ShipmentStatus.IN_TRANSIT),
        ("success", "out_for_delivery", ShipmentStatus.OUT_FOR_DELIVERY),
        ("success", "ready_for_pickup", ShipmentStatus.OUT_FOR_DELIVERY),
        ("success", "attempted_delivery", ShipmentStatus.EXCEPTION),
        ("success", "delivered", ShipmentStatus.DELIVERED),
        ("success", "failure", ShipmentStatus.EXCEPTION),
        ("pending", None, ShipmentStatus.PENDING),
        ("open", None, ShipmentStatus.PENDING),
        ("cancelled", "in_transit", ShipmentStatus.CANCELLED),
        ("error", None, ShipmentStatus.EXCEPTION),
        ("failure", None, ShipmentStatus.EXCEPTION),
        ("success", "warp", ShipmentStatus.UNKNOWN),
        ("sent_by_owl", None, ShipmentStatus.UNKNOWN),
        (None, None, ShipmentStatus.UNKNOWN),
    ],
)
def test_shipment_status(
    status: str | None, shipment: str | None, expected: ShipmentStatus
) -> None:
    assert shipment_status(status, shipment) is expected


@pytest.mark.parametrize("financial", FINANCIAL_STATUSES)
@pytest.mark.parametrize("fulfillment", FULFILLMENT_STATUSES)
def test_full_mapping_agrees_with_the_table(financial: str, fulfillment: str | None) -> None:
    payload = load("paid_unfulfilled")
    payload["financial_status"] = financial
    payload["fulfillment_status"] = fulfillment
    order = map_order(payload, shop_id=SHOP_ID)
    assert order.status is ORDER_STATUS_TABLE[(financial, fulfillment)]
    assert order.native_status == statuses.native_order_status(
        financial, fulfillment, cancelled=False, closed=False
    )


def test_the_documented_table_is_the_code_table() -> None:
    doc = (Path(__file__).resolve().parents[3] / "docs" / "connectors" / "shopify.md").read_text()
    for financial in FINANCIAL_STATUSES:
        cells = " | ".join(
            f"`{ORDER_STATUS_TABLE[(financial, fulfillment)].value}`"
            for fulfillment in FULFILLMENT_STATUSES
        )
        assert f"| `{financial}` | {cells} |" in doc
    for code, (english, _) in SHOPIFY_TRACKING_COMPANIES.items():
        assert f"| `{code}` | `{english}`" in doc
