"""People and places: buyers, receivers and their addresses.

Administrative divisions (country, province, city, district, town) are not personal data:
Taobao leaves them in clear while masking the rest, warehouses route and price on them, and
reports group by them. The street lines, postal code, name, phone and e-mail are personal
data and are typed `Sensitive`.
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import MaxLen

from shopbridge.core.base import UnifiedModel
from shopbridge.core.enums import PartyType, PiiForm
from shopbridge.core.sensitive import (
    SensitiveEmail,
    SensitiveGeneric,
    SensitiveName,
    SensitivePhone,
    SensitivePostalCode,
    SensitiveText,
)
from shopbridge.core.types import CountryCode, Identifier, ShortText

__all__ = ["Address", "Party"]


class Address(UnifiedModel):
    """A postal address, split into what may be shown and what must be protected."""

    country: CountryCode
    """ISO 3166-1 alpha-2 (`CN`). Chinese platforms imply it; their connectors set `CN`."""
    province: ShortText | None = None
    """Province or state as the platform names it (`浙江省`, `California`)."""
    province_code: ShortText | None = None
    """Subdivision code where the platform gives one (Shopify `province_code`: `CA`)."""
    city: ShortText | None = None
    district: ShortText | None = None
    """District or county (区/县)."""
    town: ShortText | None = None
    """Town or sub-district (乡镇/街道, Taobao `receiver_town`)."""
    lines: Annotated[list[SensitiveText], MaxLen(8)] = []
    """Street address / detail lines below the district (Taobao `receiver_address`, Shopify
    `address1`, `address2`). Personal data."""
    postal_code: SensitivePostalCode | None = None
    """Personal data: a full postcode can narrow down to one street; masked to its prefix."""

    def district_only(self) -> Address:
        """The same address without anything personal: enough to route, report and keep
        after a pass-through retention period."""
        return Address(
            country=self.country,
            province=self.province,
            province_code=self.province_code,
            city=self.city,
            district=self.district,
            town=self.town,
        )

    def masked(self) -> str:
        """One display line, e.g. `CN 浙江省 杭州市 西湖区 **** 310***`."""
        parts: list[str] = [self.country]
        parts += [p for p in (self.province, self.city, self.district, self.town) if p]
        parts += [line.masked() for line in self.lines]
        if self.postal_code is not None:
            parts.append(self.postal_code.masked())
        return " ".join(part for part in parts if part)


class Party(UnifiedModel):
    """A buyer or receiver as the platform describes them.

    The token fields (`platform_buyer_id`, `open_id`, `oaid`) are pseudonymous platform ids,
    not personal data in clear: they let ShopBridge merge orders of one buyer and ask the
    platform to print or decrypt, without holding the plaintext.
    """

    type: PartyType | None = None
    name: SensitiveName | None = None
    phone: SensitivePhone | None = None
    """Primary (mobile) number (Taobao `receiver_mobile`)."""
    alt_phone: SensitivePhone | None = None
    """Second number, usually a landline (Taobao `receiver_phone`)."""
    email: SensitiveEmail | None = None
    nickname: SensitiveGeneric | None = None
    """Platform account name shown to the seller (Taobao `buyer_nick`)."""
    company: ShortText | None = None
    address: Address | None = None
    platform_buyer_id: Identifier | None = None
    """Stable id of the buyer account on the platform (Taobao `buyer_open_uid`, Shopify
    customer id)."""
    open_id: Identifier | None = None
    """App-scoped pseudonymous buyer id (Doudian, Kuaishou, WeChat `open_id`)."""
    oaid: ShortText | None = None
    """Platform addressee token used for privacy shipping (Taobao OAID, up to 128 chars)."""
    pii_form: PiiForm | None = None
    """How the platform delivered the personal fields (clear, masked, encrypted, relay
    number); `None` when not known."""
