"""What a connector is: declared capabilities and limits, and the same few operations for
every platform. Platform folders implement `Connector`; the sync engine and the API only ever
talk to this interface, never to a platform module.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from shopbridge.core import Order

if TYPE_CHECKING:
    import httpx

    from shopbridge.connectors.transport import CallObserver


class Capability(StrEnum):
    ORDERS_PULL = "orders.pull"
    """Incremental pull of orders by update time (see `StreamSpec`)."""
    ORDERS_GET = "orders.get"
    """Fetch one order by its platform id (used after a thin push)."""
    ORDERS_PUSH = "orders.push"
    """The platform pushes order changes (webhooks or a message channel)."""
    PUSH_CHANNEL = "push.channel"
    """Pushes are fetched from a message channel the platform keeps (Taobao TMC), not posted
    to us: see `poll_channel` / `ack_channel`."""
    SHIPMENT_CONFIRM = "shipment.confirm"
    STOCK_UPDATE = "stock.update"
    LISTINGS_PULL = "listings.pull"
    """List the shop's sellable units (variants / SKUs) with merchant SKU codes, so stock
    can be mapped to them (see `pull_listings`)."""
    REFUNDS_PULL = "refunds.pull"
    WAYBILL = "waybill.issue"
    """Electronic waybills (e-waybill, 电子面单) from the platform's logistics service,
    addressed to the order's recipient by the platform's own handle (privacy shipping): see
    `issue_waybill`."""
    RECEIVER_DECRYPT = "receiver.decrypt"
    """Plaintext recipient of an order from the platform's decrypt service (Taobao OAID
    decrypt): see `decrypt_receivers`. Quota-bound and audited; printing never needs it."""


@dataclass(frozen=True)
class RateLimit:
    """The platform's documented limit for one shop: `requests` per `per_seconds`, with a
    bucket of `burst` (Shopify REST: 40 burst, 2/s). The connector never exceeds it."""

    requests: float
    per_seconds: float
    burst: int

    @property
    def rate(self) -> float:
        return self.requests / self.per_seconds


@dataclass(frozen=True)
class StreamSpec:
    """How the sync engine pulls one stream of a platform incrementally.

    The engine walks time windows of at most `window` over `cursor_field`, starting each pull
    `overlap` before the previous high-water mark (platforms index updates late), paging with
    `page_size`. `max_lookback` is how far back the platform lets us query at all.
    """

    name: str
    cursor_field: str
    window: timedelta
    overlap: timedelta
    page_size: int
    max_lookback: timedelta | None = None


@dataclass(frozen=True)
class ConnectorInfo:
    platform: str
    display_name: str
    api_version: str
    capabilities: frozenset[Capability]
    rate_limit: RateLimit
    streams: tuple[StreamSpec, ...]
    timezone: str = "UTC"
    """The platform's local time zone for wall-clock timestamps (Asia/Shanghai for CN)."""


@dataclass(frozen=True)
class ShopContext:
    """Everything a connector knows about the shop it works for."""

    shop_id: str
    platform_shop_id: str
    credentials: Mapping[str, Any]
    settings: Mapping[str, Any] = field(default_factory=dict)
    base_url: str | None = None
    """Override of the platform's API endpoint (sandboxes, regional gateways)."""


@dataclass(frozen=True)
class PullWindow:
    """Orders updated in [start, end): half-open so consecutive windows never overlap."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class UnmappedOrder:
    """A native order the mapping could not turn into an `Order`: kept with its reason."""

    platform_order_id: str | None
    reason: str
    raw: Any


@dataclass(frozen=True)
class OrderPage:
    orders: list[Order]
    unmapped: list[UnmappedOrder]
    next_page: str | None
    """Opaque token for the next page of the same window; None at the end."""


@dataclass(frozen=True)
class ShipmentLineRequest:
    line_id: str
    quantity: int


@dataclass(frozen=True)
class ShipmentRequest:
    carrier_code: str
    tracking_number: str
    lines: tuple[ShipmentLineRequest, ...] = ()
    """Empty: every unshipped line of the order."""
    tracking_url: str | None = None
    notify_buyer: bool = False
    carrier_name: str | None = None
    """Carrier display name, for `carrier_code="OTHER"` (platforms that take free text, such as
    Shopify and Amazon, need a name when the carrier is not in their list)."""


@dataclass(frozen=True)
class ShipmentResult:
    platform_shipment_id: str | None
    raw: Any = None


# --- privacy shipping -------------------------------------------------------------------
#
# The request and result types are platform-neutral: every Chinese platform now hands out the
# recipient as a masked copy plus an opaque handle (Taobao OAID; Pinduoduo, Douyin, JD,
# Kuaishou and Xiaohongshu encrypted receiver fields / open address ids), and prints through
# its own (or its logistics partner's) cloud-print component. `receiver_ref` carries that
# handle untouched, `print_format` says which component renders `print_data`.


@dataclass(frozen=True)
class WaybillAddress:
    """A postal address of the *merchant* (the sender, a return address): not buyer data."""

    province: str
    city: str
    district: str | None
    detail: str
    town: str | None = None


@dataclass(frozen=True)
class WaybillSender:
    name: str
    address: WaybillAddress
    mobile: str | None = None
    phone: str | None = None
    """Landline; platforms want a mobile or a phone."""


@dataclass(frozen=True)
class WaybillItem:
    name: str
    quantity: int


@dataclass(frozen=True)
class WaybillPackage:
    id: str
    """The package id the waybill is issued for: asking again for the same (order, package)
    gets the same waybill, a new id gets another parcel's waybill (split shipments)."""
    items: tuple[WaybillItem, ...]
    weight_g: int | None = None
    volume_ml: int | None = None


@dataclass(frozen=True)
class ReceiverRegion:
    """The recipient's administrative divisions, which platforms leave in clear (carriers
    route on them); never the street, name or phone."""

    country: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    town: str | None = None


@dataclass(frozen=True)
class WaybillRequest:
    """One e-waybill for one package of one order, without any plaintext buyer data."""

    platform_order_id: str
    receiver_ref: str
    """The platform's opaque handle of the recipient (Taobao OAID), as `receiver_ref()`
    returns it; the platform resolves the real address itself."""
    carrier_code: str
    """Unified carrier code (`shopbridge.core.carriers`)."""
    sender: WaybillSender
    package: WaybillPackage
    region: ReceiverRegion = field(default_factory=ReceiverRegion)
    template_url: str | None = None
    """The print template (Cainiao: `http://cloudprint.cainiao.com/template/standard/{id}`)."""
    options: Mapping[str, str | int | float | bool] = field(default_factory=dict)
    """Platform-specific options the connector documents (and refuses when unknown)."""


@dataclass(frozen=True)
class WaybillResult:
    waybill_number: str
    platform_carrier_code: str
    """The carrier as the platform's logistics service named it (Cainiao `cp_code`)."""
    print_data: str
    """Opaque, usually encrypted print document; only `print_format`'s component renders it.
    Never parsed, never logged."""
    print_format: str
    """Which print component renders `print_data`: `cainiao-cloudprint`, later
    `pdd-cloudprint`, `douyin-cloudprint`, `jd-cloudprint`..."""
    parent_waybill_number: str | None = None
    """Multi-package shipments: the master waybill the others hang on."""


@dataclass(frozen=True)
class ReceiverQuery:
    platform_order_id: str
    receiver_ref: str
    scene: str
    """Why it is decrypted, as a neutral name (`DECRYPT_SCENES`); each connector maps it to
    its platform's scene code."""


DECRYPT_SCENES: tuple[str, ...] = (
    "sf_waybill",
    "express_waybill",
    "ems_waybill",
    "other_waybill",
    "store_shipping",
    "manual_order",
    "dropship",
    "after_sales",
    "customer_care",
)
"""Why a recipient may be decrypted (Taobao's scene list in neutral words: shipping with
SF / the big express networks / EMS / another carrier's own waybill, store shipping, a
manual order, dropshipping, after-sales service, customer care)."""


@dataclass(frozen=True)
class DecryptedReceiver:
    """One recipient in plaintext. Handed to the caller and dropped: never stored, logged
    or put in an exception."""

    platform_order_id: str
    receiver_ref: str
    matched: bool
    """False: the handle is no longer the order's recipient (the buyer changed the address);
    no personal fields are returned, re-read the order for its current handle."""
    name: str | None = None
    mobile: str | None = None
    phone: str | None = None
    country: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    town: str | None = None
    address_detail: str | None = None
    virtual_number: bool = False
    """`mobile` is a relay number (隐私号, often with an extension), not the buyer's own."""
    virtual_number_expires_at: datetime | None = None

    def __repr__(self) -> str:  # keep plaintext out of logs and tracebacks
        return (
            f"DecryptedReceiver(platform_order_id={self.platform_order_id!r}, "
            f"matched={self.matched}, ...)"
        )


@dataclass(frozen=True)
class StockUpdate:
    platform_listing_id: str
    platform_sku_id: str | None
    quantity: int
    location_id: str | None = None


@dataclass(frozen=True)
class StockUpdateResult:
    update: StockUpdate
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Listing:
    """One sellable unit of a shop, addressed the way `update_stock` needs it.

    Shopify: a product variant (`platform_listing_id` = product id, `platform_sku_id` = the
    variant's inventory_item_id). Taobao: an item SKU (`num_iid`, `sku_id`), or an item
    without SKUs (`platform_sku_id` None)."""

    platform_listing_id: str
    platform_sku_id: str | None
    merchant_sku: str | None
    """The merchant's own code (Shopify variant `sku`, Taobao `outer_id`): how stock is mapped."""
    title: str | None
    quantity: int | None
    """The platform's current sellable quantity, when it reports one."""
    raw: Any = None
    platform_variant_id: str | None = None
    """How order lines name this listing when it differs from `platform_sku_id` (Shopify:
    the variant id, while stock is addressed by the inventory item id)."""


@dataclass(frozen=True)
class ListingPage:
    listings: list[Listing]
    next_page: str | None


@dataclass(frozen=True)
class PushMessage:
    """One verified inbound push. `message_id` is the platform's id for deduplication;
    `order` is set when the push carries a full order, otherwise fetch `platform_order_id`."""

    message_id: str
    topic: str
    platform_order_id: str | None
    occurred_at: datetime | None
    order: Order | None = None
    raw: Any = None


class Connector(ABC):
    """One platform. Subclasses set `info` and implement the operations they declare.

    A connector does its I/O only through its transport (httpx), maps with pure functions,
    and raises only `shopbridge.connectors.errors` exceptions.
    """

    info: ClassVar[ConnectorInfo]

    def __init__(
        self,
        shop: ShopContext,
        *,
        client: httpx.AsyncClient | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        """`client`: an httpx client to send through instead of the connector's own (tests,
        the conformance suite's in-process sandbox, a shared pool); a client passed in is
        never closed by the connector. `observer`: receives one `CallRecord` per platform
        call (sync log, metrics)."""
        self.shop = shop
        self.http_client = client
        self.observer = observer

    @abstractmethod
    async def pull_orders(self, window: PullWindow, page: str | None = None) -> OrderPage:
        """One page of orders updated inside `window`."""

    @abstractmethod
    async def get_order(self, platform_order_id: str) -> Order:
        """The full current state of one order (raises `NotFound`)."""

    async def confirm_shipment(
        self, platform_order_id: str, shipment: ShipmentRequest
    ) -> ShipmentResult:
        raise NotImplementedError(f"{self.info.platform} does not confirm shipments")

    async def update_stock(self, updates: list[StockUpdate]) -> list[StockUpdateResult]:
        raise NotImplementedError(f"{self.info.platform} does not update stock")

    def receiver_ref(self, order: Order) -> str | None:
        """The platform's opaque handle of `order`'s recipient, as the mapping stored it
        (Taobao: `receiver.oaid`); None when the order has none (then no waybill or decrypt
        is possible without re-reading the order)."""
        return None

    async def issue_waybill(self, request: WaybillRequest) -> WaybillResult:
        """An e-waybill for one package, addressed by `receiver_ref` (never plaintext).
        Asking again for the same order and package returns the same waybill."""
        raise NotImplementedError(f"{self.info.platform} does not issue e-waybills")

    async def decrypt_receivers(self, queries: Sequence[ReceiverQuery]) -> list[DecryptedReceiver]:
        """Plaintext recipients, one per query in the same order (batched as the platform
        allows). The caller audits every call and keeps nothing."""
        raise NotImplementedError(f"{self.info.platform} does not decrypt receivers")

    async def pull_listings(self, page: str | None = None) -> ListingPage:
        """One page of the shop's listings (active ones; a listing that is off sale is not
        sellable and needs no stock)."""
        raise NotImplementedError(f"{self.info.platform} does not list its listings")

    def map_order(self, payload: Any) -> Order:
        """Map one native order payload to an `Order` with no I/O (raises `MappingError`):
        the pure mapping the pull, get and push paths share, exposed for replays of stored
        payloads and for the conformance suite."""
        raise NotImplementedError(f"{self.info.platform} does not expose its order mapping")

    async def poll_channel(self) -> list[PushMessage]:
        """Fetch the next messages of the platform's message channel (they stay invisible to
        other consumers until acknowledged or until the channel redelivers them)."""
        raise NotImplementedError(f"{self.info.platform} has no message channel")

    async def ack_channel(self, message_ids: list[str]) -> None:
        """Acknowledge processed channel messages; unacknowledged ones are redelivered."""
        raise NotImplementedError(f"{self.info.platform} has no message channel")

    def verify_push(self, headers: Mapping[str, str], body: bytes) -> list[PushMessage]:
        """Verify an inbound push and parse it (raises `PushRejected`)."""
        raise NotImplementedError(f"{self.info.platform} does not receive pushes")

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most connectors need it
        """Release connections."""
