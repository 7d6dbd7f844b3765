"""Shopify products and variants -> unified `Listing`s (pure functions, no I/O).

A Shopify listing is a product variant: `platform_listing_id` is the product `id`,
`platform_sku_id` the variant's `inventory_item_id` (what `inventory_levels/set.json` and
therefore `update_stock` take), `merchant_sku` the variant `sku`, `quantity` the variant's
`inventory_quantity` (Shopify's aggregate over all locations). Products that are not for sale
(`draft`, `archived`) give no listings.
"""

from __future__ import annotations

from typing import Any, Final, NoReturn

from shopbridge.connectors.base import Listing
from shopbridge.connectors.errors import MappingError

__all__ = [
    "DEFAULT_VARIANT_TITLE",
    "PRODUCT_FIELDS",
    "SELLABLE_STATUSES",
    "listing_title",
    "map_product_listings",
    "product_id_of",
]

PLATFORM: Final = "shopify"
PRODUCT_FIELDS: Final = "id,title,status,variants"
"""The `fields` of `products.json`: top-level product fields (variants come whole)."""
DEFAULT_VARIANT_TITLE: Final = "Default Title"
"""The title Shopify gives the only variant of a product without options."""
SELLABLE_STATUSES: Final = frozenset({"active", "unlisted"})
"""Product statuses whose variants can sell. `unlisted` (API 2025-10 and later) is active but
hidden from search; older versions report it as `active`."""


def _fail(path: str, reason: str) -> NoReturn:
    raise MappingError(f"{path}: {reason}", path=path, platform=PLATFORM)


def _id(value: object, path: str) -> str | None:
    """A Shopify id (a JSON integer; a digit string is tolerated) as a string."""
    if value is None:
        return None
    if isinstance(value, bool):
        _fail(path, "id must be an integer")
    if isinstance(value, int):
        if value < 0:
            _fail(path, "id must not be negative")
        return str(value)
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return value.strip()
    _fail(path, "id must be an integer")


def _required_id(value: object, path: str) -> str:
    found = _id(value, path)
    if found is None:
        _fail(path, "required id is missing")
    return found


def _text(value: object, path: str) -> str | None:
    """A string field; empty or whitespace-only reads as absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        _fail(path, "must be a string")
    return value.strip() or None


def _quantity(value: object, path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, "must be an integer")
    return value


def product_id_of(payload: object) -> str | None:
    """The product id of a payload, when it can be read at all (for logs)."""
    if not isinstance(payload, dict):
        return None
    try:
        return _id(payload.get("id"), "$.id")
    except MappingError:
        return None


def listing_title(product_title: str | None, variant_title: str | None) -> str | None:
    """`Product / Variant`, or the product title alone for Shopify's default variant."""
    if variant_title is None or variant_title == DEFAULT_VARIANT_TITLE:
        return product_title
    if product_title is None:
        return variant_title
    return f"{product_title} / {variant_title}"


def map_product_listings(product: object, path: str = "$") -> list[Listing]:
    """One `Listing` per variant of a REST `product` (an element of `products.json`).

    A product whose `status` is not sellable gives none. Raises `MappingError` naming the
    JSON path (never a value) when the product or one of its variants cannot be read.
    """
    if not isinstance(product, dict):
        _fail(path, "product must be a JSON object")
    status = _text(product.get("status"), f"{path}.status")
    if status is not None and status not in SELLABLE_STATUSES:
        return []
    product_id = _required_id(product.get("id"), f"{path}.id")
    product_title = _text(product.get("title"), f"{path}.title")
    variants = product.get("variants")
    if variants is None:
        return []
    if not isinstance(variants, list):
        _fail(f"{path}.variants", "must be a JSON array")
    listings: list[Listing] = []
    for index, variant in enumerate(variants):
        at = f"{path}.variants[{index}]"
        if not isinstance(variant, dict):
            _fail(at, "must be a JSON object")
        listings.append(_variant_listing(product_id, product_title, variant, at))
    return listings


def _variant_listing(
    product_id: str, product_title: str | None, variant: dict[str, Any], path: str
) -> Listing:
    _required_id(variant.get("id"), f"{path}.id")
    return Listing(
        platform_listing_id=product_id,
        platform_sku_id=_id(variant.get("inventory_item_id"), f"{path}.inventory_item_id"),
        merchant_sku=_text(variant.get("sku"), f"{path}.sku"),
        title=listing_title(product_title, _text(variant.get("title"), f"{path}.title")),
        quantity=_quantity(variant.get("inventory_quantity"), f"{path}.inventory_quantity"),
        raw=variant,
        # Order lines name the variant; stock is addressed by its inventory item.
        platform_variant_id=_id(variant.get("id"), f"{path}.id"),
    )
