"""Orders: the object every ERP integration starts from.

An `Order` keeps three views of the same platform order: the unified fields an ERP acts on,
the native status strings next to the unified ones, and the untouched payload (`raw`). Money
is `Money` everywhere, in the single currency of the order, so totals can be added without
conversion surprises. The model does not re-derive totals from lines: platforms apportion
discounts and adjustments in their own ways, and the platform's figures are the ones the
merchant is paid on.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import MaxLen
from pydantic import model_validator

from shopbridge.core.base import NativeRecord, UnifiedModel, check_one_currency, check_unique
from shopbridge.core.enums import (
    DiscountKind,
    DiscountScope,
    OrderStatus,
    PresaleStage,
    RefundStatus,
)
from shopbridge.core.invoices import InvoiceRequest
from shopbridge.core.logistics import Shipment
from shopbridge.core.money import Money
from shopbridge.core.parties import Party
from shopbridge.core.types import (
    CurrencyCode,
    Identifier,
    PlatformId,
    Quantity,
    SafeStr,
    ShortText,
    UtcDatetime,
)

__all__ = ["Discount", "Order", "OrderLine", "PaymentSummary", "PresaleInfo"]


class OrderLine(NativeRecord):
    """One purchased item (Taobao sub-order `oid`, Shopify line item)."""

    native_id: Identifier
    """Platform line id; shipments and after-sales refer to the line by it."""
    sku: Identifier | None = None
    """The merchant's SKU code (Taobao `outer_sku_id`, Shopify `sku`); what the ERP knows."""
    platform_product_id: Identifier | None = None
    """Platform product id (Taobao `num_iid`, Shopify `product_id`)."""
    platform_variant_id: Identifier | None = None
    """Platform SKU/variant id (Taobao `sku_id`, Shopify `variant_id`)."""
    title: ShortText
    variant_title: ShortText | None = None
    """Chosen options as the platform prints them (`颜色:黑;尺码:L`)."""
    quantity: Quantity
    unit_price: Money
    discount: Money | None = None
    """Discount apportioned to this line (Taobao `discount_fee` + `part_mjz_discount`)."""
    tax: Money | None = None
    total: Money
    """What the buyer pays for this line after discounts (Taobao `divide_order_fee`)."""
    status: OrderStatus | None = None
    """Per-line state where the platform tracks one (Taobao sub-order `status`)."""
    refund_status: RefundStatus = RefundStatus.NONE
    native_refund_status: ShortText | None = None


class Discount(UnifiedModel):
    """A price reduction; positive amounts reduce the price, a negative seller adjustment
    raises it (Taobao `adjust_fee` can go either way)."""

    kind: DiscountKind
    scope: DiscountScope
    amount: Money
    line_id: Identifier | None = None
    """`OrderLine.native_id` for `scope=line`; must be empty otherwise."""
    code: ShortText | None = None
    """Coupon or discount code the buyer entered."""
    description: ShortText | None = None

    @model_validator(mode="after")
    def _line_matches_scope(self) -> Discount:
        if (self.scope is DiscountScope.LINE) != (self.line_id is not None):
            raise ValueError("line_id is required for scope 'line' and forbidden otherwise")
        return self


class PaymentSummary(UnifiedModel):
    """How and when the buyer paid, enough for reconciliation without the payment details."""

    method: ShortText | None = None
    """Platform's payment method name (`alipay`, `wechat_pay`, `credit_card`, `cod`)."""
    transaction_id: Identifier | None = None
    """Payment provider's transaction id (Taobao `alipay_no`, Shopify transaction id)."""
    paid_amount: Money
    paid_at: UtcDatetime | None = None


class PresaleInfo(UnifiedModel):
    """Deposit/balance presale (定金预售), common before Double 11.

    The order stays `presale_deposit_paid` between the two payments: stock is committed but
    nothing may ship until the balance is paid.
    """

    stage: PresaleStage
    native_stage: ShortText | None = None
    """Platform's value, e.g. Taobao `step_trade_status`."""
    deposit: Money
    """Deposit (定金), paid first (Taobao `step_paid_fee` once paid)."""
    balance: Money | None = None
    """Balance (尾款) still due or paid second."""
    deposit_paid_at: UtcDatetime | None = None
    balance_payable_from: UtcDatetime | None = None
    """When the balance payment window opens."""
    balance_due_at: UtcDatetime | None = None
    """When the balance payment window closes; past it the deposit is forfeited."""
    balance_paid_at: UtcDatetime | None = None


class Order(NativeRecord):
    """A platform order in the unified model."""

    id: Identifier | None = None
    """ShopBridge id (`ord_...`), set by storage; `None` before the order is stored."""
    shop_id: Identifier
    platform: PlatformId
    platform_order_id: Identifier
    """Native order id as a string (Taobao `tid_str`, Shopify `str(id)`)."""
    status: OrderStatus
    refund_status: RefundStatus = RefundStatus.NONE
    native_refund_status: ShortText | None = None
    currency: CurrencyCode
    """Every amount in the order is in this currency."""
    lines: list[OrderLine] = []
    buyer: Party | None = None
    receiver: Party | None = None
    payment: PaymentSummary | None = None
    discounts: list[Discount] = []
    subtotal: Money | None = None
    """Sum of line prices before order-level discounts (Taobao `total_fee`)."""
    shipping_fee: Money | None = None
    discount_total: Money | None = None
    tax_total: Money | None = None
    total: Money
    """What the buyer pays in the end (Taobao `payment`, Shopify `total_price`)."""
    presale: PresaleInfo | None = None
    placed_at: UtcDatetime
    paid_at: UtcDatetime | None = None
    promised_ship_at: UtcDatetime | None = None
    """Latest ship time the platform holds the seller to (发货时效)."""
    shipped_at: UtcDatetime | None = None
    completed_at: UtcDatetime | None = None
    cancelled_at: UtcDatetime | None = None
    platform_updated_at: UtcDatetime | None = None
    """Platform's last-modified time; the sync uses it to drop stale updates."""
    buyer_note: SafeStr | None = None
    """Buyer's message (买家留言)."""
    seller_note: SafeStr | None = None
    """Seller's memo (卖家备注)."""
    invoice_request: InvoiceRequest | None = None
    shipments: list[Shipment] = []
    tags: Annotated[list[ShortText], MaxLen(256)] = []

    @property
    def native_id(self) -> str:
        """Same as `platform_order_id`, so all platform objects expose `native_id`."""
        return self.platform_order_id

    @model_validator(mode="after")
    def _consistent(self) -> Order:
        check_one_currency(self, self.currency)
        check_unique((line.native_id for line in self.lines), "order line native_id")
        line_ids = {line.native_id for line in self.lines}
        for discount in self.discounts:
            if discount.line_id is not None and discount.line_id not in line_ids:
                raise ValueError(f"discount refers to unknown line {discount.line_id!r}")
        for shipment in self.shipments:
            for item in shipment.lines:
                if item.line_id not in line_ids:
                    raise ValueError(f"shipment refers to unknown line {item.line_id!r}")
        return self
