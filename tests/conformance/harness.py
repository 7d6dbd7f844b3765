"""What the conformance suite needs from a platform: its sandbox, and a few moves on it.

Each platform adds one subclass (a file `<platform>_harness.py` here) that starts its sandbox
and translates the suite's vocabulary (create orders, cancel one, inject a fault) into that
sandbox's `/_sandbox/` control API. The suite itself is platform-neutral.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

import httpx
from starlette.types import ASGIApp

from shopbridge.connectors import ShopContext, StockUpdate


@dataclass(frozen=True)
class NativeFacts:
    """What the platform itself says about an order, read through the control API, to check
    the connector's mapping against (money and times must match exactly)."""

    platform_order_id: str
    total: Decimal
    currency: str
    updated_at: datetime
    line_count: int


@dataclass(frozen=True)
class SandboxListing:
    """A sellable unit as the sandbox itself holds it (read through the control API), to
    check pulled listings against: addressed as `Listing`/`StockUpdate` address it."""

    platform_listing_id: str
    platform_sku_id: str | None
    merchant_sku: str | None
    quantity: int


ShipmentState = Literal["unshipped", "partial", "shipped"]
"""How much of an order the sandbox says has shipped."""


class PlatformHarness(ABC):
    platform: str
    page_size: int = 3
    """Small pages, so a handful of orders spans several pages."""
    tracking_number: str = "SF1234567890123"
    """An SF Express tracking number the platform accepts (some validate the format)."""
    unsupported_carrier: str
    """A unified carrier code this platform does not take (refused before any call)."""

    def __init__(self) -> None:
        self.base_url = ""
        self.control: httpx.AsyncClient | None = None

    # sandbox ------------------------------------------------------------------------------

    @abstractmethod
    def create_app(self) -> ASGIApp:
        """The sandbox with a known app secret/token, few seeded orders, no live stream."""

    @abstractmethod
    def shop_context(self) -> ShopContext:
        """How a ShopBridge shop connected to this sandbox is configured (base_url set, and
        `settings["page_size"] = self.page_size`)."""

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"{self.base_url}/_sandbox", timeout=30)

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.client() as control:
            response = await control.request(method, path, **kwargs)
            response.raise_for_status()
            return response.json() if response.content else None

    @abstractmethod
    async def reset(self) -> None:
        """Fresh shop, no faults, token restored, the shop's rate-limit quota unused (so a new
        connector's pacing starts in step with the platform)."""

    # orders -------------------------------------------------------------------------------

    @abstractmethod
    async def create_orders(self, count: int) -> list[str]:
        """Place `count` paid orders; their platform order ids, oldest first."""

    async def create_cancellable_order(self) -> str:
        """An order in the state where the platform lets it be cancelled (default: paid)."""
        [platform_order_id] = await self.create_orders(1)
        return platform_order_id

    @abstractmethod
    async def change_order(self, platform_order_id: str) -> None:
        """A real change that moves the order's update time forward (e.g. ship part of it)."""

    @abstractmethod
    async def cancel(self, platform_order_id: str) -> None: ...

    @abstractmethod
    async def refund(self, platform_order_id: str) -> None: ...

    @abstractmethod
    async def native_facts(self, platform_order_id: str) -> NativeFacts: ...

    @abstractmethod
    async def orders_in_every_state(self) -> list[str]:
        """Orders covering every native status the platform has (the mapping must know all)."""

    @abstractmethod
    def malformed_payload(self) -> Any:
        """A native order payload the mapping must refuse (missing/garbled required field)."""

    @abstractmethod
    async def orders_of_every_kind(self) -> dict[str, str]:
        """One order of each kind the sandbox can create (channels, test orders, trade
        types, presale, pre-authorisation...): kind -> platform order id."""

    @abstractmethod
    async def paid_order(self, line_count: int = 1) -> str:
        """A paid order with `line_count` lines (distinct products), nothing shipped."""

    @abstractmethod
    async def shipment_state(self, platform_order_id: str) -> ShipmentState:
        """What the sandbox itself says has shipped of the order."""

    # listings -----------------------------------------------------------------------------

    @abstractmethod
    async def seed_listing(self, skus: Mapping[str, int], *, active: bool = True) -> str:
        """Publish a listing with one sellable unit per merchant SKU code (code -> quantity)
        and return its `platform_listing_id`. One code may give a listing without SKUs (an
        item-level listing) where the platform has those. `active=False`: a listing that is
        not for sale (draft, in stock), which `pull_listings` must not return."""

    @abstractmethod
    async def sandbox_listings(self) -> list[SandboxListing]:
        """Every sellable unit of the shop's listings that are for sale, per the sandbox."""

    async def sandbox_quantity(
        self, platform_listing_id: str, platform_sku_id: str | None
    ) -> int | None:
        """The sellable quantity the sandbox holds for one unit (all locations together)."""
        for listing in await self.sandbox_listings():
            if (listing.platform_listing_id, listing.platform_sku_id) == (
                platform_listing_id,
                platform_sku_id,
            ):
                return listing.quantity
        return None

    def missing_stock_update(self, quantity: int) -> StockUpdate:
        """A stock update, well formed for the platform, for a listing that does not exist
        (so the platform itself must refuse it)."""
        return StockUpdate(
            platform_listing_id="8999999999999999999",
            platform_sku_id="8999999999999999999",
            quantity=quantity,
        )

    # write-backs --------------------------------------------------------------------------

    @abstractmethod
    async def shipments(self, platform_order_id: str) -> list[str]:
        """Tracking numbers the platform recorded for the order (through the connector)."""

    @abstractmethod
    async def stock_update(self) -> StockUpdate:
        """A stock update for a listing that exists in the sandbox."""

    @abstractmethod
    async def stock_set(self, update: StockUpdate) -> int | None:
        """The quantity the sandbox now holds for that listing (at the update's location, or
        where the connector puts stock by default when the update names none)."""

    # faults -------------------------------------------------------------------------------

    @abstractmethod
    async def inject(self, kind: str, count: int = 1) -> None:
        """`kind`: `unavailable` (5xx), `rate_limit` (platform throttling), `auth_expired`."""

    @abstractmethod
    async def exhaust_rate_limit(self) -> None:
        """Use up the shop's real quota, so the next call is throttled by the platform."""

    @abstractmethod
    def push(self, body: dict[str, Any], *, valid_signature: bool) -> tuple[dict[str, str], bytes]:
        """Headers and body of a push as the platform would send it (signed or tampered)."""
