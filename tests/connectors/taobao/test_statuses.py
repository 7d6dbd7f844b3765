"""The Taobao status tables and the rules that apply them."""

from __future__ import annotations

import pytest

from shopbridge.connectors.taobao import statuses
from shopbridge.core import OrderStatus, PresaleStage, RefundStatus, ShipmentStatus

S = OrderStatus

EXPECTED = {
    "TRADE_NO_CREATE_PAY": S.PENDING_PAYMENT,
    "WAIT_BUYER_PAY": S.PENDING_PAYMENT,
    "PAY_PENDING": S.PENDING_PAYMENT,
    "WAIT_PRE_AUTH_CONFIRM": S.PENDING_PAYMENT,
    "WAIT_SELLER_SEND_GOODS": S.AWAITING_SHIPMENT,
    "PAID_FORBID_CONSIGN": S.ON_HOLD,
    "SELLER_CONSIGNED_PART": S.PARTIALLY_SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": S.SHIPPED,
    "TRADE_BUYER_SIGNED": S.DELIVERED,
    "TRADE_FINISHED": S.COMPLETED,
    "TRADE_CLOSED": S.CLOSED,
    "TRADE_CLOSED_BY_TAOBAO": S.CANCELLED,
}
"""The 12 documented trade statuses (TOP `Trade.status`)."""


def test_table_covers_every_documented_status() -> None:
    assert set(statuses.TRADE_STATUSES) == set(EXPECTED)
    assert dict(statuses.ORDER_STATUS_TABLE) == EXPECTED


@pytest.mark.parametrize(("native", "unified"), sorted(EXPECTED.items()))
def test_every_status_maps(native: str, unified: OrderStatus) -> None:
    assert statuses.order_status(native) is unified
    assert statuses.order_status(native) is not S.UNKNOWN
    assert statuses.native_order_status(native) == native
    assert statuses.line_status(native) is unified


@pytest.mark.parametrize(
    ("status", "step", "unified"),
    [
        ("WAIT_BUYER_PAY", "FRONT_NOPAID_FINAL_NOPAID", S.PENDING_PAYMENT),
        ("WAIT_BUYER_PAY", "FRONT_PAID_FINAL_NOPAID", S.PRESALE_DEPOSIT_PAID),
        ("TRADE_NO_CREATE_PAY", "FRONT_PAID_FINAL_NOPAID", S.PRESALE_DEPOSIT_PAID),
        ("WAIT_SELLER_SEND_GOODS", "FRONT_PAID_FINAL_PAID", S.AWAITING_SHIPMENT),
        ("WAIT_BUYER_CONFIRM_GOODS", "FRONT_PAID_FINAL_PAID", S.SHIPPED),
        ("TRADE_CLOSED_BY_TAOBAO", "FRONT_PAID_FRONT_FORFEITED", S.CANCELLED),
        ("WAIT_BUYER_PAY", "FRONT_PAID_FRONT_FORFEITED", S.CANCELLED),
        ("TRADE_CLOSED", "FRONT_PAID_FINAL_NOPAID", S.CLOSED),
        ("WAIT_BUYER_PAY", "SOME_NEW_STAGE", S.PENDING_PAYMENT),
    ],
)
def test_presale_rules(status: str, step: str, unified: OrderStatus) -> None:
    assert statuses.order_status(status, step) is unified
    assert statuses.native_order_status(status, step) == f"{status};step_trade_status={step}"


def test_presale_stages() -> None:
    assert {statuses.presale_stage(s) for s in statuses.STEP_TRADE_STATUSES} == {
        PresaleStage.DEPOSIT_UNPAID,
        PresaleStage.DEPOSIT_PAID,
        PresaleStage.BALANCE_PAID,
        PresaleStage.DEPOSIT_FORFEITED,
    }
    assert statuses.presale_stage("NEW") is PresaleStage.UNKNOWN
    assert statuses.presale_stage(None) is None


def test_unknown_values() -> None:
    assert statuses.order_status("TRADE_SOMETHING_NEW") is S.UNKNOWN
    assert statuses.order_status(None) is S.UNKNOWN
    assert statuses.native_order_status(None) is None
    assert statuses.native_order_status(None, "FRONT_PAID_FINAL_NOPAID") == (
        "null;step_trade_status=FRONT_PAID_FINAL_NOPAID"
    )
    assert statuses.line_status(None) is None
    assert statuses.line_status("NEW") is S.UNKNOWN


@pytest.mark.parametrize(
    ("native", "unified"),
    [
        (None, RefundStatus.NONE),
        ("NO_REFUND", RefundStatus.NONE),
        ("WAIT_SELLER_AGREE", RefundStatus.REQUESTED),
        ("WAIT_BUYER_RETURN_GOODS", RefundStatus.PROCESSING),
        ("WAIT_SELLER_CONFIRM_GOODS", RefundStatus.PROCESSING),
        ("WAIT_SELLER_CONSIGN_GOODS", RefundStatus.PROCESSING),
        ("WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS", RefundStatus.PROCESSING),
        ("EXCHANGE_TRANSFORM_TO_REFUND", RefundStatus.PROCESSING),
        ("SELLER_REFUSE_BUYER", RefundStatus.REJECTED),
        ("CLOSED", RefundStatus.CANCELLED),
        ("SUCCESS", RefundStatus.REFUNDED),
        ("REFUND_NEW_STATE", RefundStatus.UNKNOWN),
    ],
)
def test_line_refund_statuses(native: str | None, unified: RefundStatus) -> None:
    assert statuses.refund_status(native) is unified


R = RefundStatus


@pytest.mark.parametrize(
    ("lines", "trade", "expected"),
    [
        ([], "WAIT_SELLER_SEND_GOODS", R.NONE),
        ([R.NONE, R.NONE], "WAIT_SELLER_SEND_GOODS", R.NONE),
        ([R.REFUNDED, R.REFUNDED], "TRADE_CLOSED", R.REFUNDED),
        ([R.REFUNDED, R.NONE], "WAIT_SELLER_SEND_GOODS", R.PARTIALLY_REFUNDED),
        ([R.REFUNDED, R.REQUESTED], "WAIT_SELLER_SEND_GOODS", R.REQUESTED),
        ([R.PROCESSING, R.REJECTED], "WAIT_BUYER_CONFIRM_GOODS", R.PROCESSING),
        ([R.REJECTED, R.CANCELLED], "WAIT_BUYER_CONFIRM_GOODS", R.REJECTED),
        ([R.CANCELLED, R.NONE], "TRADE_FINISHED", R.CANCELLED),
        ([R.UNKNOWN, R.REQUESTED], "WAIT_SELLER_SEND_GOODS", R.UNKNOWN),
        ([R.NONE], "TRADE_CLOSED", R.REFUNDED),
        ([], "TRADE_CLOSED", R.REFUNDED),
        ([R.NONE], "TRADE_CLOSED_BY_TAOBAO", R.NONE),
    ],
)
def test_order_refund_roll_up(
    lines: list[RefundStatus], trade: str, expected: RefundStatus
) -> None:
    assert statuses.order_refund_status(lines, trade) is expected


def test_shipment_status() -> None:
    assert statuses.shipment_status(["WAIT_BUYER_CONFIRM_GOODS"]) is ShipmentStatus.SHIPPED
    assert statuses.shipment_status(["TRADE_FINISHED", "TRADE_BUYER_SIGNED"]) is (
        ShipmentStatus.DELIVERED
    )
    assert statuses.shipment_status(["TRADE_FINISHED", "WAIT_BUYER_CONFIRM_GOODS"]) is (
        ShipmentStatus.SHIPPED
    )
    assert statuses.shipment_status([]) is ShipmentStatus.SHIPPED
