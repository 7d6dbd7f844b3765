"""Taobao items and SKUs -> unified `Listing`s (pure functions, no I/O), and the page token of
`pull_listings`.

A Taobao listing is an item SKU (`platform_listing_id` = `num_iid`, `platform_sku_id` =
`sku_id`, `merchant_sku` = the SKU's `outer_id`, `quantity` = the SKU's `quantity`), or, for
an item without SKUs, the item itself (`platform_sku_id` None, `merchant_sku` = the item's
`outer_id`, `quantity` = `num`). These are exactly the ids `taobao.item.quantity.update`
takes, so `update_stock` can address every listing.

The rows come from `taobao.items.onsale.get` (items: `num_iid,title,outer_id,num`; the call
documents no SKU fields) and `taobao.item.skus.get` (SKUs of up to 40 items per call).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NoReturn

from shopbridge.connectors.base import Listing
from shopbridge.connectors.errors import MappingError, Rejected

__all__ = [
    "ITEM_FIELDS",
    "MAX_ITEMS_PAGE_SIZE",
    "ONSALE_METHOD",
    "SKUS_BATCH",
    "SKUS_METHOD",
    "SKU_FIELDS",
    "decode_listing_page",
    "encode_listing_page",
    "group_skus",
    "item_id_of",
    "map_item_listings",
    "sku_option_text",
]

PLATFORM: Final = "taobao"
ONSALE_METHOD: Final = "taobao.items.onsale.get"
SKUS_METHOD: Final = "taobao.item.skus.get"
ITEM_FIELDS: Final = "num_iid,title,outer_id,num"
"""What `taobao.items.onsale.get` is asked for (all in the call's documented field list)."""
SKU_FIELDS: Final = "sku_id,num_iid,outer_id,quantity,properties_name,status"
MAX_ITEMS_PAGE_SIZE: Final = 200
"""`taobao.items.onsale.get` allows `page_size` up to 200."""
SKUS_BATCH: Final = 40
"""`taobao.item.skus.get` takes at most 40 `num_iids` per call."""
DELETED_SKU: Final = "delete"

_PAGE_TOKEN: Final = re.compile(r"^items:v1:(\d{1,6})$")
_MAX_ID_DIGITS: Final = 19


def _fail(path: str, reason: str) -> NoReturn:
    raise MappingError(f"{path}: {reason}", path=path, platform=PLATFORM)


def _id(value: object, path: str) -> str | None:
    """A TOP int64 id (a JSON integer, or a digit string) as a string; a float has lost
    digits and is refused."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        _fail(path, "id must be an integer or a digit string")
    if isinstance(value, int):
        if value <= 0:
            _fail(path, "id must be positive")
        return str(value)
    if isinstance(value, float):
        _fail(path, "id is a JSON float and may have lost digits")
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and text.isascii() and len(text) <= _MAX_ID_DIGITS and int(text) > 0:
            return str(int(text))
    _fail(path, "id must be an integer or a digit string")


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
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        _fail(path, "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        return int(value.strip())
    _fail(path, "must be an integer")


def item_id_of(payload: object) -> str | None:
    """The `num_iid` of an item or SKU row, when it can be read at all."""
    if not isinstance(payload, dict):
        return None
    try:
        return _id(payload.get("num_iid"), "$.num_iid")
    except MappingError:
        return None


def _unescape(text: str) -> str:
    """TOP writes `:` and `;` inside property names as `#cln#` and `#scln#`."""
    return text.replace("#cln#", ":").replace("#scln#", ";").strip()


def sku_option_text(properties_name: str | None) -> str | None:
    """`pid:vid:尺码:39;pid:vid:颜色分类:黑色` -> `尺码:39;颜色分类:黑色`, the form trades use
    for `sku_properties_name`; None when there is nothing readable."""
    if not properties_name:
        return None
    parts: list[str] = []
    for pair in properties_name.split(";"):
        bits = pair.split(":", 3)
        if len(bits) == 4 and bits[2].strip() and bits[3].strip():
            parts.append(f"{_unescape(bits[2])}:{_unescape(bits[3])}")
    return ";".join(parts) or None


def group_skus(rows: Iterable[object]) -> dict[str, list[dict[str, Any]]]:
    """`taobao.item.skus.get` rows grouped by their `num_iid` (rows without one are dropped:
    they cannot be matched to an item)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        num_iid = item_id_of(row)
        if num_iid is not None and isinstance(row, dict):
            grouped.setdefault(num_iid, []).append(row)
    return grouped


def map_item_listings(
    item: object, skus: Sequence[Mapping[str, Any]] = (), path: str = "$"
) -> list[Listing]:
    """The listings of one `taobao.items.onsale.get` item with its `taobao.item.skus.get`
    rows: one per SKU (deleted SKUs skipped), or one for the item itself when it has none.

    Raises `MappingError` naming the JSON path (never a value) when a row cannot be read.
    """
    if not isinstance(item, dict):
        _fail(path, "item must be a JSON object")
    num_iid = _required_id(item.get("num_iid"), f"{path}.num_iid")
    title = _text(item.get("title"), f"{path}.title")
    if not skus:
        return [
            Listing(
                platform_listing_id=num_iid,
                platform_sku_id=None,
                merchant_sku=_text(item.get("outer_id"), f"{path}.outer_id"),
                title=title,
                quantity=_quantity(item.get("num"), f"{path}.num"),
                raw=item,
            )
        ]
    listings: list[Listing] = []
    for index, sku in enumerate(skus):
        at = f"{path}.skus[{index}]"
        if _text(sku.get("status"), f"{at}.status") == DELETED_SKU:
            continue
        options = sku_option_text(_text(sku.get("properties_name"), f"{at}.properties_name"))
        listings.append(
            Listing(
                platform_listing_id=num_iid,
                platform_sku_id=_required_id(sku.get("sku_id"), f"{at}.sku_id"),
                merchant_sku=_text(sku.get("outer_id"), f"{at}.outer_id"),
                title=f"{title} / {options}" if title and options else title or options,
                quantity=_quantity(sku.get("quantity"), f"{at}.quantity"),
                raw={"item": item, "sku": sku},
            )
        )
    return listings


def encode_listing_page(page_no: int) -> str:
    return f"items:v1:{page_no}"


def decode_listing_page(token: str) -> int:
    """The `page_no` of a token `encode_listing_page` issued (`Rejected` otherwise)."""
    match = _PAGE_TOKEN.fullmatch(token.strip())
    if match is None or int(match.group(1)) < 1:
        reason = "the page token is not one this connector issued"
        raise Rejected(
            reason,
            reason=reason,
            platform=PLATFORM,
            interface=ONSALE_METHOD,
            code="bad_page_token",
        )
    return int(match.group(1))
