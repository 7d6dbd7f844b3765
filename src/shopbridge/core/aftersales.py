"""After-sales requests (售后): refunds, returns, exchanges and reissues.

One `AfterSale` is one request as the platform tracks it (Taobao `refund_id`, a Shopify
refund or return). The order-level `RefundStatus` is only the summary; the ERP works from
these objects, which say whose move it is (`AfterSaleStatus`).
"""

from __future__ import annotations

from pydantic import model_validator

from shopbridge.core.base import NativeRecord, UnifiedModel, check_one_currency, check_unique
from shopbridge.core.enums import AfterSaleStatus, AfterSaleType
from shopbridge.core.logistics import Shipment
from shopbridge.core.money import Money
from shopbridge.core.types import (
    Identifier,
    PlatformId,
    Quantity,
    SafeStr,
    ShortText,
    UtcDatetime,
)

__all__ = ["AfterSale", "AfterSaleLine"]


class AfterSaleLine(UnifiedModel):
    """The part of one order line a request covers."""

    line_id: Identifier
    """`OrderLine.native_id` (Taobao `oid`, Shopify `line_item_id`)."""
    sku: Identifier | None = None
    quantity: Quantity | None = None
    """Units returned or exchanged; `None` for a money-only request without a unit count."""
    refund_amount: Money | None = None


class AfterSale(NativeRecord):
    """A refund, return, exchange or reissue request on one order."""

    id: Identifier | None = None
    shop_id: Identifier
    platform: PlatformId
    native_id: Identifier
    """Platform request id (Taobao `refund_id`, Shopify refund or return id)."""
    type: AfterSaleType
    status: AfterSaleStatus
    order_id: Identifier | None = None
    """ShopBridge order id, once the order is known locally."""
    platform_order_id: Identifier
    lines: list[AfterSaleLine] = []
    refund_amount: Money | None = None
    """Money the buyer asks back (or got back once `completed`)."""
    reason: ShortText | None = None
    """Reason as the platform states it (退款原因)."""
    description: SafeStr | None = None
    """Buyer's own explanation, verbatim."""
    return_shipment: Shipment | None = None
    """Parcel the buyer sends back (return tracking number and carrier)."""
    replacement_shipment: Shipment | None = None
    """Parcel the seller sends for an exchange or reissue."""
    requested_at: UtcDatetime
    deadline_at: UtcDatetime | None = None
    """When the platform acts on its own if the seller has not (auto-agree timeout)."""
    completed_at: UtcDatetime | None = None
    platform_updated_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AfterSale:
        amounts = [line.refund_amount for line in self.lines if line.refund_amount is not None]
        if self.refund_amount is not None:
            amounts.append(self.refund_amount)
        if amounts:
            check_one_currency(self, amounts[0].currency)
        check_unique((line.line_id for line in self.lines), "after-sale line_id")
        return self
