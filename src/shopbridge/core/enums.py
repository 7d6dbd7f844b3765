"""Unified status vocabularies and platform identifiers.

Each platform has its own words for the same business states (Taobao `WAIT_SELLER_SEND_GOODS`,
Shopify `paid` + unfulfilled, ...). An ERP must be able to act on an order without knowing the
platform, so connectors map every native value onto these enums and keep the native value next
to it (`native_status`). Any native value a mapping does not know becomes `unknown`: the sync
goes on, the native value is still there, and the operator is alerted. Values are lowercase
snake_case strings because they travel as-is in JSON, SQL and webhook payloads.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

KNOWN_PLATFORMS: Final[tuple[str, ...]] = (
    "taobao",
    "tmall",
    "jd",
    "pdd",
    "doudian",
    "kuaishou",
    "xiaohongshu",
    "youzan",
    "shopify",
    "woocommerce",
    "amazon",
    "tiktokshop",
    "shopee",
    "lazada",
    "ebay",
    "magento",
)
"""Platforms ShopBridge ships connectors for. Not a closed set: plugins may add more."""

PLATFORM_PATTERN: Final = r"^[a-z][a-z0-9_]{1,31}$"
"""Shape of any platform identifier, built-in or plugin. Use with `re.fullmatch` in Python
(`$` alone also matches before a trailing newline); pydantic applies it as a full match."""


class OrderStatus(StrEnum):
    """Where an order stands in its life, seen from the merchant who must fulfil it.

    - `pending_payment`: placed, not paid (Taobao `WAIT_BUYER_PAY`, `TRADE_NO_CREATE_PAY`,
      `PAY_PENDING`, `WAIT_PRE_AUTH_CONFIRM`; Shopify `financial_status` `pending`). Never ship.
    - `presale_deposit_paid`: presale order whose deposit is paid and balance is not (Taobao
      `WAIT_BUYER_PAY` with `step_trade_status=FRONT_PAID_FINAL_NOPAID`). Never ship yet, but
      stock is committed.
    - `awaiting_shipment`: paid, nothing shipped (Taobao `WAIT_SELLER_SEND_GOODS`; Shopify
      `paid`/`authorized` with `fulfillment_status` null). The ERP's work queue.
    - `on_hold`: paid but the platform forbids shipping for now (Taobao `PAID_FORBID_CONSIGN`,
      group buy still forming or risk control; Shopify fulfillment order `on_hold`).
    - `partially_shipped`: some lines or units shipped (Taobao `SELLER_CONSIGNED_PART`;
      Shopify `fulfillment_status=partial`).
    - `shipped`: everything handed to carriers (Taobao `WAIT_BUYER_CONFIRM_GOODS`; Shopify
      `fulfillment_status=fulfilled`).
    - `delivered`: carrier or buyer confirmed receipt, order not yet final (Taobao
      `TRADE_BUYER_SIGNED`, cash on delivery).
    - `completed`: final and successful (Taobao `TRADE_FINISHED`; Shopify order closed after
      fulfilment).
    - `cancelled`: ended before fulfilment without the sale going through (Taobao
      `TRADE_CLOSED_BY_TAOBAO`; Shopify `cancelled_at` set; presale deposit forfeited).
    - `closed`: ended after payment because everything was refunded (Taobao `TRADE_CLOSED`).
    - `unknown`: a native status the mapping does not know; read `native_status`.
    """

    PENDING_PAYMENT = "pending_payment"
    PRESALE_DEPOSIT_PAID = "presale_deposit_paid"
    AWAITING_SHIPMENT = "awaiting_shipment"
    ON_HOLD = "on_hold"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class RefundStatus(StrEnum):
    """Refund state of an order or of one line, as a single value an ERP can filter on.

    The details of each request live in `AfterSale`; this is the summary.

    - `none`: no refund was ever asked for (Taobao `NO_REFUND`; Shopify no refunds).
    - `requested`: the buyer asked, the seller has not answered (Taobao `WAIT_SELLER_AGREE`).
    - `processing`: agreed, goods or money still moving (Taobao `WAIT_BUYER_RETURN_GOODS`,
      `WAIT_SELLER_CONFIRM_GOODS`; a Shopify refund transaction still `pending`).
    - `partially_refunded`: part of the money went back and the rest of the order stands
      (Shopify `partially_refunded`; Taobao `SUCCESS` on some lines only).
    - `refunded`: all of it went back (Shopify `refunded`; Taobao `SUCCESS` on every line).
    - `rejected`: the seller refused; the buyer may still escalate (Taobao
      `SELLER_REFUSE_BUYER`).
    - `cancelled`: the request ended without a refund, withdrawn or closed (Taobao `CLOSED`).
    - `unknown`: a native value the mapping does not know; read `native_refund_status`.
    """

    NONE = "none"
    REQUESTED = "requested"
    PROCESSING = "processing"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class PresaleStage(StrEnum):
    """Payment stage of a deposit/balance (定金/尾款) presale order.

    Maps Taobao `step_trade_status` one to one: `FRONT_NOPAID_FINAL_NOPAID`,
    `FRONT_PAID_FINAL_NOPAID`, `FRONT_PAID_FINAL_PAID`, `FRONT_PAID_FRONT_FORFEITED`.
    """

    DEPOSIT_UNPAID = "deposit_unpaid"
    DEPOSIT_PAID = "deposit_paid"
    BALANCE_PAID = "balance_paid"
    DEPOSIT_FORFEITED = "deposit_forfeited"
    UNKNOWN = "unknown"


class AfterSaleType(StrEnum):
    """What the buyer asks for after the sale (售后类型).

    - `refund_only`: money back, goods kept or never shipped (仅退款).
    - `return_refund`: goods come back, then money goes back (退货退款).
    - `exchange`: goods come back, a replacement goes out (换货).
    - `reissue`: a missing or broken item is sent again, nothing comes back (补寄).
    - `unknown`: a native type the mapping does not know.
    """

    REFUND_ONLY = "refund_only"
    RETURN_REFUND = "return_refund"
    EXCHANGE = "exchange"
    REISSUE = "reissue"
    UNKNOWN = "unknown"


class AfterSaleStatus(StrEnum):
    """Whose move it is on an after-sale request; each value names the party that must act.

    - `requested`: seller must agree or refuse (Taobao `WAIT_SELLER_AGREE`; Shopify return
      `REQUESTED`).
    - `awaiting_buyer_return`: agreed, buyer must send the goods back (Taobao
      `WAIT_BUYER_RETURN_GOODS`; Shopify return `OPEN`).
    - `awaiting_seller_receipt`: goods are on their way back, the warehouse must confirm
      receipt (Taobao `WAIT_SELLER_CONFIRM_GOODS`).
    - `awaiting_reship`: seller must send the replacement (Taobao `WAIT_SELLER_CONSIGN_GOODS`).
    - `replacement_shipped`: replacement sent, buyer must confirm (Taobao
      `WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS`).
    - `refunding`: approved, the money is being paid out.
    - `disputed`: the platform is arbitrating (客服介入).
    - `rejected`: seller refused; the buyer may appeal (Taobao `SELLER_REFUSE_BUYER`; Shopify
      return `DECLINED`).
    - `completed`: done, money or goods delivered (Taobao `SUCCESS`; Shopify return `CLOSED`).
    - `cancelled`: ended without effect (Taobao `CLOSED`, `EXCHANGE_TRANSFORM_TO_REFUND`;
      Shopify return `CANCELED`).
    - `unknown`: a native status the mapping does not know; read `native_status`.
    """

    REQUESTED = "requested"
    AWAITING_BUYER_RETURN = "awaiting_buyer_return"
    AWAITING_SELLER_RECEIPT = "awaiting_seller_receipt"
    AWAITING_RESHIP = "awaiting_reship"
    REPLACEMENT_SHIPPED = "replacement_shipped"
    REFUNDING = "refunding"
    DISPUTED = "disputed"
    REJECTED = "rejected"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class ShipmentStatus(StrEnum):
    """State of one parcel from the merchant's side.

    - `pending`: recorded (e.g. sent by the ERP) but not yet confirmed to the platform.
    - `shipped`: confirmed to the platform / handed to the carrier (Shopify fulfillment
      `success`).
    - `in_transit`, `out_for_delivery`, `delivered`: carrier progress, from tracking.
    - `exception`: the carrier reports a problem (failed delivery, lost, damaged).
    - `returned`: the parcel went back to the sender.
    - `cancelled`: the shipment was withdrawn (Shopify fulfillment `cancelled`).
    - `unknown`: a native status the mapping does not know.
    """

    PENDING = "pending"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED = "returned"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class TrackingStatus(StrEnum):
    """Kind of one carrier tracking event (物流轨迹节点), coarse enough for every carrier.

    - `info_received`: label created, carrier has the data but not the parcel.
    - `picked_up`: carrier has the parcel (揽收).
    - `in_transit`: moving between facilities.
    - `out_for_delivery`: with the courier for the last mile (派送).
    - `delivered`: signed for or left at a locker (签收).
    - `delivery_failed`: an attempt failed; another may follow.
    - `exception`: held, lost, damaged or refused (问题件).
    - `returned_to_sender`: on its way back or back at origin (退回).
    - `unknown`: an event kind the mapping does not know.
    """

    INFO_RECEIVED = "info_received"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    EXCEPTION = "exception"
    RETURNED_TO_SENDER = "returned_to_sender"
    UNKNOWN = "unknown"


class ListingStatus(StrEnum):
    """Whether a buyer can buy a listing right now, and if not, why.

    - `active`: on sale (Taobao `onsale`; Shopify `active`).
    - `inactive`: exists but off shelf by the seller (Taobao `instock`; Shopify `archived`).
    - `draft`: never published (Shopify `draft`).
    - `under_review`: waiting for platform approval.
    - `rejected`: the platform refused or banned it.
    - `sold_out`: on shelf with zero sellable stock, where the platform says so explicitly.
    - `deleted`: removed on the platform; kept here so the SKU mapping history survives.
    - `unknown`: a native status the mapping does not know.
    """

    ACTIVE = "active"
    INACTIVE = "inactive"
    DRAFT = "draft"
    UNDER_REVIEW = "under_review"
    REJECTED = "rejected"
    SOLD_OUT = "sold_out"
    DELETED = "deleted"
    UNKNOWN = "unknown"


class InvoiceType(StrEnum):
    """Chinese invoice kind, which decides what the buyer must supply.

    - `normal`: 普通发票; a personal or company title, a tax number for companies.
    - `vat_special`: 增值税专用发票; company only, also needs registered address, phone and
      bank account, and lets the buyer deduct input VAT.
    """

    NORMAL = "normal"
    VAT_SPECIAL = "vat_special"


class InvoiceMedium(StrEnum):
    """How the invoice is delivered: `electronic` (PDF, 电子发票) or `paper` (纸质发票)."""

    ELECTRONIC = "electronic"
    PAPER = "paper"


class PartyType(StrEnum):
    """Whether a party is a natural person or an organisation.

    It matters for privacy (a person's name is personal data, a company's is not) and for
    invoices (a personal title needs no tax number).
    """

    INDIVIDUAL = "individual"
    ORGANIZATION = "organization"


class PiiForm(StrEnum):
    """In which form a platform handed over a party's personal fields.

    Privacy shipping depends on this: only `plain` values can be printed; `masked` values are
    useless for delivery; `encrypted` values must go back to the platform (decrypt API or
    e-waybill with the platform's token, e.g. Taobao OAID); `virtual` phone numbers work for
    calls but expire.

    - `plain`: the real value.
    - `masked`: desensitised by the platform (`张**`, `138****5678`).
    - `encrypted`: platform ciphertext, only the platform can open it.
    - `virtual`: a privacy relay number (`18877771111-123`).
    """

    PLAIN = "plain"
    MASKED = "masked"
    ENCRYPTED = "encrypted"
    VIRTUAL = "virtual"


class DiscountKind(StrEnum):
    """Where a price reduction comes from, because each is booked differently.

    - `coupon`: a code or coupon the buyer applied.
    - `promotion`: an automatic campaign (满减, bundle, flash sale).
    - `platform_subsidy`: paid by the platform, not the merchant (平台补贴); the merchant
      still receives this money.
    - `seller_adjustment`: a manual price change by the seller (改价, Taobao `adjust_fee`).
    - `shipping`: a reduction of the shipping fee.
    - `points`: loyalty points or store credit.
    - `other`: anything else; `description` says what.
    """

    COUPON = "coupon"
    PROMOTION = "promotion"
    PLATFORM_SUBSIDY = "platform_subsidy"
    SELLER_ADJUSTMENT = "seller_adjustment"
    SHIPPING = "shipping"
    POINTS = "points"
    OTHER = "other"


class DiscountScope(StrEnum):
    """What a discount applies to: the whole `order`, one `line`, or the `shipping` fee."""

    ORDER = "order"
    LINE = "line"
    SHIPPING = "shipping"


class ShopStatus(StrEnum):
    """Whether ShopBridge syncs a shop.

    - `active`: syncing.
    - `paused`: stopped by the operator; nothing is pulled or pushed, state is kept.
    - `disconnected`: the platform authorisation is gone (revoked or expired beyond refresh);
      the merchant must authorise again.
    """

    ACTIVE = "active"
    PAUSED = "paused"
    DISCONNECTED = "disconnected"
