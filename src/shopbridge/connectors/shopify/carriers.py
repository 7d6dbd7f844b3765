"""Unified carrier codes <-> Shopify `tracking_company` names.

Shopify takes a free-text company name, but only the names on its "supported tracking
companies" list (exact spelling and case) get automatic tracking links and shipment-status
updates. The table below is the Shopify column of the unified carrier table
(`shared/carriers.md`): carriers marked "n/l" there are absent from Shopify's list and are
refused at confirm time instead of being sent under a neighbour's name. A carrier Shopify does
not list goes out as `OTHER`, with the ERP's `carrier_name` and, ideally, a tracking URL.

The unified codes themselves come from `shopbridge.core.carriers` (the single list): the codes
Shopify does not list are whatever the table has beyond this column, so a carrier added to the
table is refused with advice here until someone confirms its Shopify name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from shopbridge.connectors.errors import Rejected
from shopbridge.core.carriers import (
    CARRIER_CODES,
    OTHER,
    PlatformCarriers,
    declare_platform_carriers,
)

__all__ = [
    "NOT_LISTED",
    "OTHER",
    "OTHER_COMPANY",
    "SHOPIFY_TRACKING_COMPANIES",
    "SUPPORTED_CARRIERS",
    "CarrierLanguage",
    "shopify_tracking_company",
    "unified_carrier_code",
]

OTHER_COMPANY: Final = "Other"
"""Company sent for `OTHER` when the ERP gives no carrier name."""

CarrierLanguage = Literal["en", "ja"]

# unified code -> (English name, Japanese name). Only the Japanese carriers differ: Shopify
# lists them twice, `(EN)` and `(JA)`, and the merchant picks by the buyer's language.
SHOPIFY_TRACKING_COMPANIES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        "SF": ("SF Express", "SF Express"),
        "SF_INTL": ("SF Express", "SF Express"),
        "CHINA_POST": ("China Post", "China Post"),
        "UPS": ("UPS", "UPS"),
        "FEDEX": ("FedEx", "FedEx"),
        "DHL_EXPRESS": ("DHL Express", "DHL Express"),
        "USPS": ("USPS", "USPS"),
        "ROYAL_MAIL": ("Royal Mail", "Royal Mail"),
        "CANADA_POST": ("Canada Post", "Canada Post"),
        "AUSTRALIA_POST": ("Australia Post", "Australia Post"),
        "JAPAN_POST": ("Japan Post (EN)", "Japan Post (JA)"),
        "YAMATO": ("Yamato (EN)", "Yamato (JA)"),
        "SAGAWA": ("Sagawa (EN)", "Sagawa (JA)"),
        "FOURPX": ("4PX", "4PX"),
    }
)
"""Unified code -> Shopify tracking company (English, Japanese)."""

NOT_LISTED: Final[frozenset[str]] = CARRIER_CODES - set(SHOPIFY_TRACKING_COMPANIES) - {OTHER}
"""Unified carriers Shopify's list does not name ("n/l" in the carrier table)."""

SUPPORTED_CARRIERS: Final[frozenset[str]] = frozenset(SHOPIFY_TRACKING_COMPANIES) | {OTHER}
"""Unified codes a Shopify shop accepts: its listed companies, and `OTHER` (free text)."""

declare_platform_carriers(PlatformCarriers(platform="shopify", supported=SUPPORTED_CARRIERS))

# Reverse lookup, case-insensitive. "SF Express" is both SF and SF_INTL; it reads back as SF
# (the carrier table's main row; SF_INTL uses the same network and tracking numbers).
_BY_NAME: Final[dict[str, str]] = {}
for _code, _names in SHOPIFY_TRACKING_COMPANIES.items():
    for _name in _names:
        _BY_NAME.setdefault(_name.casefold(), _code)


def shopify_tracking_company(
    carrier_code: str,
    *,
    carrier_name: str | None = None,
    language: CarrierLanguage = "en",
) -> str:
    """The `tracking_info.company` to send for a unified carrier code.

    Raises `Rejected` (before anything is sent) for a code Shopify does not list or that is
    not in the unified table at all, saying what to send instead.
    """
    code = carrier_code.strip().upper()
    if code == OTHER:
        name = (carrier_name or "").strip()
        return name or OTHER_COMPANY
    names = SHOPIFY_TRACKING_COMPANIES.get(code)
    if names is not None:
        return names[1] if language == "ja" else names[0]
    if code in NOT_LISTED:
        reason = (
            f"carrier {code} is not in Shopify's tracking company list; confirm it as "
            "carrier_code OTHER with carrier_name and tracking_url"
        )
    else:
        reason = f"unknown unified carrier code {code!r}; see the carrier table"
    raise Rejected(reason, reason=reason, platform="shopify", code="unsupported_carrier")


def unified_carrier_code(tracking_company: str | None) -> str | None:
    """Unified code for a Shopify `tracking_company`; `OTHER` for a name outside the table,
    `None` when the fulfillment names no company."""
    if tracking_company is None or not tracking_company.strip():
        return None
    return _BY_NAME.get(tracking_company.strip().casefold(), OTHER)
