"""Shipments, carrier tracking and electronic waybills.

Carrier codes are unified (`SF`, `ZTO`, `DHL_EXPRESS`, see the carrier table) so an ERP says
"shipped with SF" once; each connector translates to its platform's own code and keeps that
code in `native_carrier_code`, since platforms disagree even on spelling (`shunfeng`, `467`,
`SF Express`).
"""

from __future__ import annotations

from pydantic import model_validator

from shopbridge.core.base import NativeRecord, UnifiedModel, check_unique
from shopbridge.core.enums import ShipmentStatus, TrackingStatus
from shopbridge.core.sensitive import SensitiveGeneric
from shopbridge.core.types import (
    CarrierCode,
    HttpUrl,
    Identifier,
    Quantity,
    SafeStr,
    ShortText,
    UtcDatetime,
)

__all__ = ["Shipment", "ShipmentLine", "TrackingEvent", "Waybill"]


class ShipmentLine(UnifiedModel):
    """How many units of one order line a parcel carries (split shipments, 拆单发货)."""

    line_id: Identifier
    """`OrderLine.native_id` of the line (Taobao `oid`, Shopify line item id)."""
    quantity: Quantity
    sku: Identifier | None = None


class Shipment(NativeRecord):
    """One parcel of an order: created by the ERP to confirm shipment, or read back from
    the platform (Shopify fulfillment, Taobao consign info)."""

    native_id: Identifier | None = None
    """Platform id of the shipment/package; `None` until the platform has assigned one."""
    platform_order_id: Identifier | None = None
    """Set when the shipment travels on its own, outside `Order.shipments`."""
    carrier_code: CarrierCode | None = None
    """Unified carrier code; `None` for virtual goods shipped without a carrier."""
    native_carrier_code: ShortText | None = None
    carrier_name: ShortText | None = None
    """Display name; required by some platforms when the carrier is `OTHER`."""
    tracking_number: Identifier | None = None
    tracking_url: HttpUrl | None = None
    lines: list[ShipmentLine] = []
    """Lines and quantities in this parcel; empty means the whole order."""
    status: ShipmentStatus = ShipmentStatus.PENDING
    shipped_at: UtcDatetime | None = None
    delivered_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _lines_unique(self) -> Shipment:
        check_unique((line.line_id for line in self.lines), "shipment line_id")
        return self


class TrackingEvent(NativeRecord):
    """One carrier scan or status change of a parcel (物流轨迹)."""

    tracking_number: Identifier
    carrier_code: CarrierCode | None = None
    status: TrackingStatus
    description: SafeStr | None = None
    """Carrier's text, verbatim (`快件已由【xx驿站】代收`)."""
    location: ShortText | None = None
    occurred_at: UtcDatetime


class Waybill(NativeRecord):
    """An electronic waybill (电子面单): the tracking number plus what the printer needs.

    `print_data` is the platform's print payload; for privacy shipping it is encrypted by the
    platform and only its print component can render the receiver, so the warehouse never
    handles plaintext. It is still typed sensitive because some platforms return it in clear.
    """

    carrier_code: CarrierCode
    native_carrier_code: ShortText | None = None
    tracking_number: Identifier
    platform_order_ids: list[Identifier] = []
    """Orders this waybill covers (several when orders were merged, 合单)."""
    print_data: SensitiveGeneric | None = None
    print_template_url: HttpUrl | None = None
    created_at: UtcDatetime | None = None
