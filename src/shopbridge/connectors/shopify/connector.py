"""`ShopifyConnector`: the Shopify Admin REST API behind the unified `Connector` interface.

Credentials: `access_token` (Admin API token, sent as `X-Shopify-Access-Token`), `app_secret`
(the app's client secret, verifies webhooks), optional `previous_app_secret` (accepted for
webhooks during a secret rotation).

Settings: `api_version` (default `DEFAULT_API_VERSION`), `shop_domain` (when
`platform_shop_id` is not the myshopify handle/domain), `location_id` (stock location; else
the first active location is discovered once), `detect_holds` (also read fulfillment orders
of orders awaiting shipment, to report holds as `on_hold`; one extra call per such order),
`carrier_language` (`en`/`ja`: which of Shopify's Japanese carrier names to send),
`page_size` (orders and products per list page, 1..250).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

import httpx

from shopbridge.connectors.base import (
    Capability,
    Connector,
    ConnectorInfo,
    Listing,
    ListingPage,
    OrderPage,
    PullWindow,
    PushMessage,
    RateLimit,
    ShipmentRequest,
    ShipmentResult,
    ShopContext,
    StockUpdate,
    StockUpdateResult,
    StreamSpec,
    UnmappedOrder,
)
from shopbridge.connectors.errors import (
    AuthExpired,
    ConnectorError,
    MappingError,
    NotFound,
    Rejected,
)
from shopbridge.connectors.shopify.carriers import CarrierLanguage, shopify_tracking_company
from shopbridge.connectors.shopify.listings import (
    PRODUCT_FIELDS,
    map_product_listings,
    product_id_of,
)
from shopbridge.connectors.shopify.mapping import map_order, order_id_of
from shopbridge.connectors.shopify.push import parse_webhook
from shopbridge.connectors.shopify.transport import (
    DEFAULT_API_VERSION,
    PLATFORM,
    ShopifyApi,
    next_page_info,
    shop_host,
)
from shopbridge.connectors.transport import CallObserver
from shopbridge.core import Order, OrderStatus, to_utc
from shopbridge.logging import get_logger

__all__ = ["ShopifyConnector"]

log = get_logger(__name__)

MAX_PAGE_SIZE: Final = 250
FULFILLABLE_STATUSES: Final = ("open", "in_progress")
"""Fulfillment order statuses a fulfillment can still be created on."""


def _iso(moment: datetime) -> str:
    return to_utc(moment).isoformat(timespec="seconds")


def _ceil_second(moment: datetime) -> datetime:
    return (
        moment if moment.microsecond == 0 else moment.replace(microsecond=0) + timedelta(seconds=1)
    )


def _numeric_id(value: str, what: str) -> str:
    text = value.strip()
    if not text.isdigit() or not text.isascii():
        raise NotFound(f"{what} {value!r} is not a Shopify id", platform=PLATFORM, code="bad_id")
    return text


def _int_id(value: object) -> int | None:
    """A Shopify id as the integer the REST API takes back (ints; digit strings tolerated)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value)
    return None


def _page_size(setting: object, default: int) -> int:
    if isinstance(setting, int) and not isinstance(setting, bool) and 1 <= setting <= MAX_PAGE_SIZE:
        return setting
    return min(default, MAX_PAGE_SIZE)


def _rejected(reason: str, interface: str, code: str) -> Rejected:
    return Rejected(reason, reason=reason, platform=PLATFORM, interface=interface, code=code)


@dataclass
class _OpenItem:
    """One fulfillment order line item that can still ship."""

    fulfillment_order_id: int
    location: str | None
    item_id: int
    line_id: str
    remaining: int


class ShopifyConnector(Connector):
    """Orders (pull, get, webhooks), shipment confirmation, listings and stock levels on
    Shopify."""

    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        platform=PLATFORM,
        display_name="Shopify",
        api_version=DEFAULT_API_VERSION,
        capabilities=frozenset(
            {
                Capability.ORDERS_PULL,
                Capability.ORDERS_GET,
                Capability.ORDERS_PUSH,
                Capability.SHIPMENT_CONFIRM,
                Capability.STOCK_UPDATE,
                Capability.LISTINGS_PULL,
            }
        ),
        rate_limit=RateLimit(requests=2, per_seconds=1, burst=40),
        streams=(
            StreamSpec(
                name="orders",
                cursor_field="updated_at",
                window=timedelta(days=1),
                overlap=timedelta(minutes=5),
                page_size=MAX_PAGE_SIZE,
                max_lookback=None,
            ),
        ),
        timezone="UTC",
    )

    def __init__(
        self,
        shop: ShopContext,
        *,
        client: httpx.AsyncClient | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        super().__init__(shop, client=client, observer=observer)
        self.api = ShopifyApi(
            shop, rate_limit=self.info.rate_limit, client=client, observer=observer
        )
        self.page_size = _page_size(shop.settings.get("page_size"), self.info.streams[0].page_size)
        """Orders / products per list page (Shopify allows 1..250); `settings["page_size"]`
        lowers it."""
        self._location_id: str | None = None
        self._detect_holds = shop.settings.get("detect_holds") is True

    # ------------------------------------------------------------------ orders

    async def pull_orders(self, window: PullWindow, page: str | None = None) -> OrderPage:
        """One page of orders with `updated_at` in [window.start, window.end), oldest first.

        The first page filters by `updated_at_min`/`updated_at_max` (`status=any`); later pages
        send only `limit` and the opaque `page_info` (Shopify refuses other filters next to it).
        Shopify's bounds are inclusive and whole seconds, so the half-open window is enforced
        on each order's `updated_at` here.
        """
        limit = str(max(1, min(self.page_size, MAX_PAGE_SIZE)))
        if page is None:
            params = {
                "status": "any",
                "updated_at_min": _iso(window.start.replace(microsecond=0)),
                "updated_at_max": _iso(_ceil_second(window.end)),
                "limit": limit,
                "order": "updated_at asc",
            }
        else:
            params = {"limit": limit, "page_info": page}
        body, response = await self.api.get("orders.json", interface="orders.json", params=params)
        items = body.get("orders")
        if not isinstance(items, list):
            raise MappingError(
                "$.orders: list response has no orders array",
                path="$.orders",
                platform=PLATFORM,
                interface="orders.json",
            )
        orders: list[Order] = []
        unmapped: list[UnmappedOrder] = []
        for item in items:
            try:
                order = self.map_order(item)
                updated = order.platform_updated_at
                if updated is not None and not (window.start <= updated < window.end):
                    continue  # belongs to a neighbouring window
                orders.append(await self._with_holds(item, order))
            except MappingError as exc:
                unmapped.append(
                    UnmappedOrder(platform_order_id=order_id_of(item), reason=exc.message, raw=item)
                )
        return OrderPage(orders=orders, unmapped=unmapped, next_page=next_page_info(response))

    async def get_order(self, platform_order_id: str) -> Order:
        order_id = _numeric_id(platform_order_id, "order id")
        body, _ = await self.api.get(f"orders/{order_id}.json", interface="orders/{id}.json")
        payload = body.get("order")
        if not isinstance(payload, dict):
            raise MappingError(
                "$.order: response has no order object",
                path="$.order",
                platform=PLATFORM,
                interface="orders/{id}.json",
            )
        return await self._with_holds(payload, self.map_order(payload))

    def map_order(self, payload: Any) -> Order:
        """The pure mapping of one REST order payload (see `mapping.map_order`)."""
        return map_order(payload, shop_id=self.shop.shop_id)

    async def _with_holds(self, payload: Any, order: Order) -> Order:
        """With `detect_holds`, re-map an order awaiting shipment with its fulfillment orders,
        which are the only place REST shows a hold."""
        if not self._detect_holds or order.status is not OrderStatus.AWAITING_SHIPMENT:
            return order
        try:
            fulfillment_orders = await self._fulfillment_orders(order.platform_order_id)
        except NotFound:
            return order  # deleted in the meantime; the next pull or push says so
        return map_order(payload, shop_id=self.shop.shop_id, fulfillment_orders=fulfillment_orders)

    async def _fulfillment_orders(self, order_id: str) -> list[dict[str, Any]]:
        interface = "orders/{id}/fulfillment_orders.json"
        body, _ = await self.api.get(
            f"orders/{order_id}/fulfillment_orders.json", interface=interface
        )
        items = body.get("fulfillment_orders")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise MappingError(
                "$.fulfillment_orders: response has no fulfillment_orders array",
                path="$.fulfillment_orders",
                platform=PLATFORM,
                interface=interface,
            )
        return items

    # ------------------------------------------------------------------ shipments

    async def confirm_shipment(
        self, platform_order_id: str, shipment: ShipmentRequest
    ) -> ShipmentResult:
        """Create one fulfillment with the tracking number for the requested lines (all that is
        left to ship when `shipment.lines` is empty).

        Lines are matched to the order's open fulfillment orders by line item id. One Shopify
        fulfillment covers fulfillment orders of one location only, so lines assigned to
        several locations are refused with a reason rather than split silently.
        """
        interface = "fulfillments.json"
        language: CarrierLanguage = (
            "ja" if self.shop.settings.get("carrier_language") == "ja" else "en"
        )
        company = shopify_tracking_company(
            shipment.carrier_code, carrier_name=shipment.carrier_name, language=language
        )
        if not shipment.tracking_number.strip():
            raise _rejected("a tracking number is required", interface, "no_tracking_number")
        order_id = _numeric_id(platform_order_id, "order id")
        fulfillment_orders = await self._fulfillment_orders(order_id)
        open_items, held = self._open_items(fulfillment_orders)
        statuses = sorted({str(fo.get("status")) for fo in fulfillment_orders if fo.get("status")})
        selection = self._select(open_items, held, shipment, interface, statuses)

        locations = {item.location for item, _ in selection}
        if len(locations) > 1:
            raise _rejected(
                f"the lines are assigned to {len(locations)} Shopify locations and one "
                "fulfillment covers one location; confirm one shipment per location",
                interface,
                "multiple_locations",
            )
        by_order: dict[int, list[dict[str, int]]] = {}
        for item, quantity in selection:
            by_order.setdefault(item.fulfillment_order_id, []).append(
                {"id": item.item_id, "quantity": quantity}
            )
        tracking: dict[str, str] = {"number": shipment.tracking_number.strip(), "company": company}
        if shipment.tracking_url:
            tracking["url"] = shipment.tracking_url
        body = {
            "fulfillment": {
                "line_items_by_fulfillment_order": [
                    {"fulfillment_order_id": fo_id, "fulfillment_order_line_items": items}
                    for fo_id, items in by_order.items()
                ],
                "tracking_info": tracking,
                "notify_customer": shipment.notify_buyer,
            }
        }
        data = await self.api.post("fulfillments.json", interface=interface, body=body)
        fulfillment = data.get("fulfillment")
        if not isinstance(fulfillment, dict):
            raise MappingError(
                "$.fulfillment: response has no fulfillment object",
                path="$.fulfillment",
                platform=PLATFORM,
                interface=interface,
            )
        return ShipmentResult(platform_shipment_id=order_id_of(fulfillment), raw=fulfillment)

    @staticmethod
    def _open_items(
        fulfillment_orders: list[dict[str, Any]],
    ) -> tuple[list[_OpenItem], dict[str, str]]:
        """Line items that can still ship, open orders first; and for lines that cannot,
        the status of the fulfillment order holding them (for the refusal reason)."""
        items: list[_OpenItem] = []
        blocked: dict[str, str] = {}
        ranked = sorted(
            fulfillment_orders,
            key=lambda fo: (
                FULFILLABLE_STATUSES.index(fo["status"])
                if fo.get("status") in FULFILLABLE_STATUSES
                else len(FULFILLABLE_STATUSES)
            ),
        )
        for fo in ranked:
            status = fo.get("status")
            actions = fo.get("supported_actions")
            usable = status in FULFILLABLE_STATUSES and (
                not isinstance(actions, list) or "create_fulfillment" in actions
            )
            fo_id = _int_id(fo.get("id"))
            for line in fo.get("line_items") or []:
                if not isinstance(line, dict):
                    continue
                line_id = order_id_of({"id": line.get("line_item_id")})
                remaining = line.get("fulfillable_quantity")
                item_id = _int_id(line.get("id"))
                if line_id is None or not isinstance(remaining, int) or remaining <= 0:
                    continue
                if not usable or fo_id is None or item_id is None:
                    blocked.setdefault(line_id, str(status))
                    continue
                location = fo.get("assigned_location_id")
                items.append(
                    _OpenItem(
                        fulfillment_order_id=fo_id,
                        location=str(location) if location is not None else None,
                        item_id=item_id,
                        line_id=line_id,
                        remaining=remaining,
                    )
                )
        return items, blocked

    @staticmethod
    def _select(
        open_items: list[_OpenItem],
        blocked: Mapping[str, str],
        shipment: ShipmentRequest,
        interface: str,
        statuses: Sequence[str] = (),
    ) -> list[tuple[_OpenItem, int]]:
        """`statuses`: every fulfillment order status of the order, named in the refusal
        when nothing is left (`closed` once shipped, `cancelled` for a cancelled order)."""
        if not shipment.lines:
            if not open_items:
                why = "nothing is left to ship on this order"
                if statuses:
                    why += f" (fulfillment order status: {', '.join(statuses)})"
                if blocked:
                    states = ", ".join(sorted(set(blocked.values())))
                    why = f"no fulfillment order is open (fulfillment order status: {states})"
                raise _rejected(why, interface, "nothing_to_ship")
            return [(item, item.remaining) for item in open_items]
        wanted: dict[str, int] = {}
        for line in shipment.lines:
            if line.quantity <= 0:
                raise _rejected(
                    f"line {line.line_id}: quantity must be positive", interface, "bad_quantity"
                )
            wanted[line.line_id] = wanted.get(line.line_id, 0) + line.quantity
        selection: list[tuple[_OpenItem, int]] = []
        for line_id, quantity in wanted.items():
            candidates = [item for item in open_items if item.line_id == line_id]
            available = sum(item.remaining for item in candidates)
            if available < quantity:
                if not candidates and line_id in blocked:
                    why = f"line {line_id} cannot ship now (fulfillment order status: {blocked[line_id]})"
                elif not candidates:
                    why = (
                        f"line {line_id} has nothing left to ship (unknown line or already shipped)"
                    )
                else:
                    why = f"line {line_id}: {quantity} requested, only {available} left to ship"
                raise _rejected(why, interface, "line_not_open")
            for item in candidates:
                if quantity == 0:
                    break
                take = min(item.remaining, quantity)
                selection.append((item, take))
                quantity -= take
        return selection

    # ------------------------------------------------------------------ listings

    async def pull_listings(self, page: str | None = None) -> ListingPage:
        """One page of active products' variants (`products.json?status=active`).

        The first page filters by `status=active`; later pages send only `limit`, `fields` and
        the opaque `page_info` of the `Link: rel="next"` header (Shopify refuses other filters
        next to it). Products are also filtered here by their `status`, so a gateway that
        ignores the filter lists nothing that cannot sell. A product the mapping cannot read
        is skipped and logged (without values); the rest of the page is returned.
        """
        interface = "products.json"
        limit = str(max(1, min(self.page_size, MAX_PAGE_SIZE)))
        params = {"limit": limit, "fields": PRODUCT_FIELDS}
        if page is None:
            params["status"] = "active"
        else:
            params["page_info"] = page
        body, response = await self.api.get("products.json", interface=interface, params=params)
        products = body.get("products")
        if not isinstance(products, list):
            raise MappingError(
                "$.products: list response has no products array",
                path="$.products",
                platform=PLATFORM,
                interface=interface,
            )
        listings: list[Listing] = []
        for index, product in enumerate(products):
            try:
                listings += map_product_listings(product, f"$.products[{index}]")
            except MappingError as exc:
                log.warning(
                    "shopify.listing_unmapped",
                    shop_id=self.shop.shop_id,
                    product_id=product_id_of(product),
                    reason=exc.message,
                )
        return ListingPage(listings=listings, next_page=next_page_info(response))

    # ------------------------------------------------------------------ stock

    async def update_stock(self, updates: list[StockUpdate]) -> list[StockUpdateResult]:
        """Set `available` for each update at its location (`inventory_levels/set.json`).

        `platform_sku_id` is the variant's `inventory_item_id`. Each update stands alone: a
        refusal is reported in its result and the others go on; an `AuthExpired` stops all.
        """
        results: list[StockUpdateResult] = []
        location_failure: ConnectorError | None = None
        for update in updates:
            try:
                location = update.location_id or self.shop.settings.get("location_id")
                if location is None:
                    if location_failure is not None:
                        raise location_failure  # discovery already failed in this batch
                    try:
                        location = await self._default_location()
                    except ConnectorError as exc:
                        if not isinstance(exc, AuthExpired):
                            location_failure = exc
                        raise
                await self._set_level(update, str(location))
            except AuthExpired:
                raise
            except ConnectorError as exc:
                results.append(StockUpdateResult(update, ok=False, error=str(exc)))
            else:
                results.append(StockUpdateResult(update, ok=True))
        return results

    async def _set_level(self, update: StockUpdate, location: str) -> None:
        interface = "inventory_levels/set.json"
        if not update.platform_sku_id:
            raise _rejected(
                "platform_sku_id (the Shopify inventory_item_id) is required",
                interface,
                "no_inventory_item",
            )
        item_id = _numeric_id(update.platform_sku_id, "inventory_item_id")
        location_id = _numeric_id(location, "location_id")
        body = {
            "location_id": int(location_id),
            "inventory_item_id": int(item_id),
            "available": update.quantity,
        }
        data = await self.api.post(interface, interface=interface, body=body)
        if not isinstance(data.get("inventory_level"), dict):
            raise MappingError(
                "$.inventory_level: response has no inventory_level object",
                path="$.inventory_level",
                platform=PLATFORM,
                interface=interface,
            )

    async def _default_location(self) -> str:
        """The first active location (not a fulfillment-service "legacy" one), cached."""
        if self._location_id is not None:
            return self._location_id
        body, _ = await self.api.get("locations.json", interface="locations.json")
        locations = body.get("locations")
        if not isinstance(locations, list):
            raise MappingError(
                "$.locations: response has no locations array",
                path="$.locations",
                platform=PLATFORM,
                interface="locations.json",
            )
        for location in locations:
            if not isinstance(location, dict) or location.get("active") is False:
                continue
            if location.get("legacy") is True:
                continue
            location_id = order_id_of(location)
            if location_id is not None:
                self._location_id = location_id
                return location_id
        raise _rejected("the shop has no active location", "locations.json", "no_location")

    # ------------------------------------------------------------------ push

    def verify_push(self, headers: Mapping[str, str], body: bytes) -> list[PushMessage]:
        credentials = self.shop.credentials
        secrets = [
            value
            for value in (credentials.get("app_secret"), credentials.get("previous_app_secret"))
            if isinstance(value, str) and value
        ]
        try:
            domain: str | None = shop_host(self.shop)
        except Rejected:
            domain = None
        return parse_webhook(
            headers, body, shop_id=self.shop.shop_id, secrets=secrets, shop_domain=domain
        )

    async def aclose(self) -> None:
        await self.api.aclose()
