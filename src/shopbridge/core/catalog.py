"""Products, their variants, their listings on shops, and stock.

A `Product`/`Variant` is the merchant's master data (from the ERP), keyed by the merchant's
SKU code. A `Listing` is that SKU as published on one shop, with the platform's ids; the SKU
code is the join between the two, which is why `Listing.sku` may be `None`: a listing nobody
has mapped yet is exactly what the operator must see.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Ge, Le, MaxLen
from pydantic import Field, Strict, model_validator

from shopbridge.core.base import NativeRecord, UnifiedModel, check_unique
from shopbridge.core.enums import ListingStatus
from shopbridge.core.money import Money
from shopbridge.core.types import (
    MAX_QUANTITY,
    HttpUrl,
    Identifier,
    JsonObject,
    NonNegativeQuantity,
    PlatformId,
    SafeStr,
    ShortText,
    UtcDatetime,
)

__all__ = ["Listing", "Product", "StockLevel", "Variant"]


class Variant(UnifiedModel):
    """One sellable SKU of a product (a 颜色 and 尺码 combination)."""

    sku: Identifier
    """The merchant's SKU code, unique per tenant; the key stock and listings hang on."""
    barcode: Identifier | None = None
    """GTIN/EAN/UPC where known."""
    title: ShortText | None = None
    options: dict[ShortText, ShortText] = {}
    """Option name to value (`{"颜色": "黑", "尺码": "L"}`), in display order."""
    price: Money | None = None
    weight_grams: NonNegativeQuantity | None = None
    image_urls: Annotated[list[HttpUrl], MaxLen(64)] = []
    extensions: JsonObject = Field(default_factory=dict)


class Product(UnifiedModel):
    """A master product with its variants, to be published to many shops (铺货)."""

    id: Identifier | None = None
    code: Identifier | None = None
    """The merchant's product/style code (款号, SPU)."""
    title: ShortText
    description: SafeStr | None = None
    """Long description, HTML allowed, stored verbatim."""
    brand: ShortText | None = None
    category_path: Annotated[list[ShortText], MaxLen(16)] = []
    """Merchant category from root to leaf; connectors map it to each platform's tree."""
    attributes: dict[ShortText, ShortText] = {}
    image_urls: Annotated[list[HttpUrl], MaxLen(64)] = []
    variants: list[Variant] = []
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    extensions: JsonObject = Field(default_factory=dict)

    @model_validator(mode="after")
    def _skus_unique(self) -> Product:
        check_unique((variant.sku for variant in self.variants), "variant sku")
        return self


class Listing(NativeRecord):
    """A product or one of its variants as published on one shop."""

    id: Identifier | None = None
    shop_id: Identifier
    platform: PlatformId
    platform_listing_id: Identifier
    """Platform product/item id (Taobao `num_iid`, Shopify product id)."""
    platform_sku_id: Identifier | None = None
    """Platform variant id when the listing is one variant (Taobao `sku_id`)."""
    sku: Identifier | None = None
    """Merchant SKU code it maps to; `None` while unmapped."""
    title: ShortText | None = None
    quantity: NonNegativeQuantity | None = None
    """Sellable quantity the platform currently shows."""
    price: Money | None = None
    status: ListingStatus
    url: HttpUrl | None = None
    platform_updated_at: UtcDatetime | None = None

    @property
    def native_id(self) -> str:
        """Same as `platform_listing_id`, so all platform objects expose `native_id`."""
        return self.platform_listing_id


class StockLevel(UnifiedModel):
    """Stock of one SKU in one warehouse (or in total when `warehouse` is `None`).

    `available` is stated, not derived: safety stock and allocation rules make it differ from
    `on_hand - reserved`, and it may go negative when a channel oversold, which the inventory
    engine must see rather than have clamped away.
    """

    sku: Identifier
    warehouse: Identifier | None = None
    on_hand: NonNegativeQuantity
    """Physically present units."""
    reserved: NonNegativeQuantity = 0
    """Units promised to orders not yet shipped."""
    available: Annotated[int, Strict(), Ge(-MAX_QUANTITY), Le(MAX_QUANTITY)]
    """Units that may still be sold."""
    version: Annotated[int, Strict(), Ge(0)] | None = None
    """Monotonic counter for optimistic concurrency; a write with an older version loses."""
    updated_at: UtcDatetime
