"""Unified carrier codes <-> Shopify tracking company names (Shopify column of the carrier
table in shared/carriers.md)."""

from __future__ import annotations

import pytest

from shopbridge.connectors import Rejected
from shopbridge.connectors.shopify.carriers import (
    NOT_LISTED,
    SHOPIFY_TRACKING_COMPANIES,
    shopify_tracking_company,
    unified_carrier_code,
)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("SF", "SF Express"),
        ("SF_INTL", "SF Express"),
        ("CHINA_POST", "China Post"),
        ("UPS", "UPS"),
        ("FEDEX", "FedEx"),
        ("DHL_EXPRESS", "DHL Express"),
        ("USPS", "USPS"),
        ("ROYAL_MAIL", "Royal Mail"),
        ("CANADA_POST", "Canada Post"),
        ("AUSTRALIA_POST", "Australia Post"),
        ("JAPAN_POST", "Japan Post (EN)"),
        ("YAMATO", "Yamato (EN)"),
        ("SAGAWA", "Sagawa (EN)"),
        ("FOURPX", "4PX"),
    ],
)
def test_listed_carriers(code: str, name: str) -> None:
    assert shopify_tracking_company(code) == name
    expected = "SF" if code == "SF_INTL" else code
    assert unified_carrier_code(name) == expected
    assert unified_carrier_code(name.upper()) == expected  # case-insensitive on the way in


def test_japanese_names() -> None:
    assert shopify_tracking_company("YAMATO", language="ja") == "Yamato (JA)"
    assert unified_carrier_code("Sagawa (JA)") == "SAGAWA"


def test_other_sends_the_erp_name() -> None:
    assert shopify_tracking_company("OTHER", carrier_name=" Bob's Courier ") == "Bob's Courier"
    assert shopify_tracking_company("OTHER") == "Other"


@pytest.mark.parametrize("code", sorted(NOT_LISTED))
def test_carriers_shopify_does_not_list_are_refused_with_advice(code: str) -> None:
    with pytest.raises(Rejected) as info:
        shopify_tracking_company(code)
    assert "OTHER" in info.value.reason
    assert info.value.code == "unsupported_carrier"


def test_unknown_unified_code_is_refused() -> None:
    with pytest.raises(Rejected, match="unknown unified carrier code"):
        shopify_tracking_company("PONY_EXPRESS")


def test_tables_do_not_overlap() -> None:
    assert not set(SHOPIFY_TRACKING_COMPANIES) & NOT_LISTED


def test_inbound_names() -> None:
    assert unified_carrier_code(None) is None
    assert unified_carrier_code("  ") is None
    assert unified_carrier_code("DHL eCommerce") == "OTHER"
