"""The unified carrier table: one list of carrier codes every connector maps from.

An ERP says "shipped with `SF`, tracking number N" once; each connector translates the code
into its platform's own identifier (Taobao `company_code` `SF`, Shopify tracking company
`SF Express`, ...). This module is the single list of those codes, with display names and,
where a carrier publishes a stable per-parcel page, a tracking URL template. The rows follow
the carrier table in `shared/carriers.md`; which platform accepts which code is each
connector's business (its `carriers` module), declared here through `declare_platform_carriers`
so the API can answer without importing any connector.

`OTHER` is any carrier not in the table: platforms that take free text (Shopify) then need
the carrier's name (`carrier_name`); platforms with a closed list (Taobao) refuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import quote

__all__ = [
    "ALIASES",
    "CARRIERS",
    "CARRIER_CODES",
    "OTHER",
    "Carrier",
    "PlatformCarriers",
    "declare_platform_carriers",
    "declared_platforms",
    "normalize_carrier_code",
    "platform_carriers",
    "tracking_url",
]

OTHER: Final = "OTHER"


@dataclass(frozen=True)
class Carrier:
    """One row of the carrier table."""

    code: str
    name: str
    """Display name (English)."""
    local_name: str | None = None
    """Name in the carrier's home market (`顺丰速运`), when it differs."""
    tracking_url_template: str | None = None
    """Public tracking page with `{tracking_number}` in it; only for carriers whose page
    takes the number in the URL and has stayed stable (others are left out, not guessed)."""


_ROWS: Final = (
    Carrier(
        "SF",
        "SF Express",
        "顺丰速运",
        "https://www.sf-express.com/chn/en/waybill/waybill-detail/{tracking_number}",
    ),
    Carrier("ZTO", "ZTO Express", "中通快递"),
    Carrier("YTO", "YTO Express", "圆通速递"),
    Carrier("STO", "STO Express", "申通快递"),
    Carrier("YUNDA", "Yunda Express", "韵达快递"),
    Carrier("JTEXPRESS", "J&T Express", "极兔速递"),
    Carrier("EMS", "China Post EMS", "邮政EMS"),
    Carrier("CHINA_POST", "China Post", "邮政快递包裹"),
    Carrier("JD", "JD Logistics", "京东物流"),
    Carrier("DEPPON", "Deppon Express", "德邦快递"),
    Carrier("BEST", "Best Express", "百世快递"),
    Carrier("CAINIAO", "Cainiao", "菜鸟直送"),
    Carrier("ZJS", "ZJS Express", "宅急送"),
    Carrier("DANNIAO", "Danniao", "丹鸟"),
    Carrier("UPS", "UPS", None, "https://www.ups.com/track?tracknum={tracking_number}"),
    Carrier("FEDEX", "FedEx", None, "https://www.fedex.com/fedextrack/?trknbr={tracking_number}"),
    Carrier(
        "DHL_EXPRESS",
        "DHL Express",
        None,
        "https://www.dhl.com/en/express/tracking.html?AWB={tracking_number}&brand=DHL",
    ),
    Carrier(
        "USPS",
        "USPS",
        None,
        "https://tools.usps.com/go/TrackConfirmAction?tLabels={tracking_number}",
    ),
    Carrier(
        "ROYAL_MAIL",
        "Royal Mail",
        None,
        "https://www.royalmail.com/track-your-item#/tracking-results/{tracking_number}",
    ),
    Carrier(
        "CANADA_POST",
        "Canada Post",
        None,
        "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={tracking_number}",
    ),
    Carrier(
        "AUSTRALIA_POST",
        "Australia Post",
        None,
        "https://auspost.com.au/mypost/track/#/details/{tracking_number}",
    ),
    Carrier("JAPAN_POST", "Japan Post", "日本郵便"),
    Carrier("YAMATO", "Yamato Transport", "ヤマト運輸"),
    Carrier("SAGAWA", "Sagawa Express", "佐川急便"),
    Carrier(
        "SF_INTL",
        "SF International",
        "顺丰国际",
        "https://www.sf-express.com/chn/en/waybill/waybill-detail/{tracking_number}",
    ),
    Carrier("FOURPX", "4PX", "递四方"),
    Carrier("YANWEN", "Yanwen", "燕文"),
    Carrier("CAINIAO_GLOBAL", "Cainiao Global", "菜鸟国际"),
    Carrier(OTHER, "Other carrier (give carrier_name)"),
)

CARRIERS: Final[Mapping[str, Carrier]] = MappingProxyType({c.code: c for c in _ROWS})
"""Unified code -> carrier, in table order."""

CARRIER_CODES: Final[frozenset[str]] = frozenset(CARRIERS)

ALIASES: Final[Mapping[str, str]] = MappingProxyType({"DHL": "DHL_EXPRESS"})
"""Other spellings accepted on the way in. `DHL` alone is ambiguous (Express, eCommerce,
Freight are different networks); it means DHL Express, the one platforms list as `DHL`."""


def normalize_carrier_code(text: str) -> str | None:
    """The unified code for what a client sent (case and surrounding blanks ignored, aliases
    resolved), or None when it is not in the table."""
    code = text.strip().upper()
    code = ALIASES.get(code, code)
    return code if code in CARRIERS else None


def tracking_url(carrier_code: str, tracking_number: str) -> str | None:
    """The carrier's public tracking page for a number, when the table has a template."""
    carrier = CARRIERS.get(carrier_code)
    if carrier is None or carrier.tracking_url_template is None:
        return None
    return carrier.tracking_url_template.format(tracking_number=quote(tracking_number, safe=""))


# --- what each platform accepts ----------------------------------------------------------

CarrierCheck = Callable[[str, Mapping[str, Any]], bool]


@dataclass(frozen=True)
class PlatformCarriers:
    """What one platform's connector accepts, declared by the connector itself.

    `supported` holds the codes accepted with default shop settings. `accepts`, when given,
    answers for one shop (its settings can add codes, e.g. Taobao `settings.carrier_codes`);
    without it a shop accepts exactly `supported`.
    """

    platform: str
    supported: frozenset[str]
    accepts: CarrierCheck | None = None

    def accepts_for_shop(self, carrier_code: str, settings: Mapping[str, Any]) -> bool:
        if self.accepts is not None:
            return self.accepts(carrier_code, settings)
        return carrier_code in self.supported


_DECLARED: dict[str, PlatformCarriers] = {}


def declare_platform_carriers(declaration: PlatformCarriers) -> None:
    """Called by a connector's carriers module when it is imported (the registry imports it
    with the connector class). Codes outside the unified table are a bug in the connector."""
    unknown = declaration.supported - CARRIER_CODES
    if unknown:
        raise ValueError(
            f"{declaration.platform} declares carriers outside the unified table: "
            + ", ".join(sorted(unknown))
        )
    _DECLARED[declaration.platform] = declaration


def platform_carriers(platform: str) -> PlatformCarriers | None:
    """The declaration of a platform whose connector has been loaded, None otherwise."""
    return _DECLARED.get(platform)


def declared_platforms() -> list[str]:
    return sorted(_DECLARED)
