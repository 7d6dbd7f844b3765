"""What is left to ship, from the order document and our own shipments."""

from __future__ import annotations

from typing import Any

from shopbridge.storage.shipments import LineQuantity, _encode_lines, unshipped_quantities
from shopbridge.storage.tables import OrderRow, ShipmentRow


def order(lines: list[dict[str, Any]], shipments: list[dict[str, Any]] | None = None) -> OrderRow:
    return OrderRow(document={"lines": lines, "shipments": shipments or []})


def ours(number: str, state: str, lines: list[tuple[str, int]]) -> ShipmentRow:
    return ShipmentRow(
        tracking_number=number,
        state=state,
        lines=_encode_lines([LineQuantity(a, b) for a, b in lines], notify_buyer=True),
    )


LINES = [{"native_id": "a", "quantity": 3}, {"native_id": "b", "quantity": 1}]


def test_nothing_shipped() -> None:
    assert unshipped_quantities(order(LINES), []) == {"a": 3, "b": 1}


def test_platform_shipments_and_ours_are_counted_once() -> None:
    doc = order(LINES, [{"tracking_number": "T1", "lines": [{"line_id": "a", "quantity": 2}]}])
    rows = [
        ours("T1", "confirmed", [("a", 2)]),  # the same parcel, already back in the order
        ours("T2", "pending", [("b", 1)]),  # not on the platform yet
        ours("T3", "rejected", [("a", 1)]),  # refused: ships nothing
    ]
    assert unshipped_quantities(doc, rows) == {"a": 1, "b": 0}


def test_a_parcel_without_lines_covers_everything_left() -> None:
    assert unshipped_quantities(order(LINES), [ours("T1", "pending", [])]) == {"a": 0, "b": 0}
    doc = order(LINES, [{"tracking_number": "T9", "lines": []}])
    assert unshipped_quantities(doc, []) == {"a": 0, "b": 0}


def test_cancelled_parcels_and_line_statuses() -> None:
    doc = order(
        [*LINES, {"native_id": "c", "quantity": 2, "status": "shipped"}],
        [
            {
                "status": "cancelled",
                "tracking_number": "T1",
                "lines": [{"line_id": "a", "quantity": 3}],
            }
        ],
    )
    assert unshipped_quantities(doc, []) == {"a": 3, "b": 1, "c": 0}
