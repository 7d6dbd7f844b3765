"""The unified carrier table: one list, what each installed platform accepts, and
`GET /v1/carriers`."""

from __future__ import annotations

import httpx
import pytest

from shopbridge.connectors.registry import installed_platforms
from shopbridge.core.carriers import (
    CARRIER_CODES,
    CARRIERS,
    OTHER,
    PlatformCarriers,
    declare_platform_carriers,
    normalize_carrier_code,
    tracking_url,
)
from shopbridge.sync.shipments import carrier_support
from tests.conftest import TenantClient

BRIEF_CODES = {
    "SF",
    "ZTO",
    "YTO",
    "STO",
    "YUNDA",
    "JTEXPRESS",
    "EMS",
    "JD",
    "DEPPON",
    "BEST",
    "CAINIAO",
    "UPS",
    "FEDEX",
    "DHL_EXPRESS",
    "USPS",
    "OTHER",
}


def test_the_table_has_every_code_connectors_and_erps_use() -> None:
    assert BRIEF_CODES <= CARRIER_CODES
    assert all(c.code == code for code, c in CARRIERS.items())
    assert normalize_carrier_code(" dhl ") == "DHL_EXPRESS"
    assert normalize_carrier_code("sf") == "SF"
    assert normalize_carrier_code("PONY") is None


def test_tracking_urls_quote_the_number() -> None:
    assert tracking_url("UPS", "1Z 9/9") == "https://www.ups.com/track?tracknum=1Z%209%2F9"
    assert tracking_url("ZTO", "73100000000000") is None
    assert tracking_url("NOPE", "1") is None


@pytest.mark.parametrize("platform", installed_platforms())
def test_every_installed_connector_declares_codes_of_the_table(platform: str) -> None:
    support = carrier_support(platform)
    assert support is not None and support.platform == platform
    assert support.supported and support.supported <= CARRIER_CODES


def test_a_declaration_outside_the_table_is_a_bug() -> None:
    with pytest.raises(ValueError, match="PONY"):
        declare_platform_carriers(PlatformCarriers("test", frozenset({"SF", "PONY"})))


async def test_carriers_endpoint_for_any_key(tenant: TenantClient, anon: httpx.AsyncClient) -> None:
    key = await tenant.post("/v1/api-keys", json={"name": "narrow", "scopes": ["events:read"]})
    resp = await tenant.get(
        "/v1/carriers", headers={"Authorization": f"Bearer {key.json()['key']}"}
    )
    assert resp.status_code == 200, resp.text
    rows = {row["code"]: row for row in resp.json()["data"]}
    assert set(rows) == set(CARRIER_CODES)
    assert rows["SF"]["platforms"] == {"shopify": True, "taobao": True}
    assert rows["ZTO"]["platforms"] == {"shopify": False, "taobao": True}
    assert rows["UPS"]["platforms"] == {"shopify": True, "taobao": False}
    assert rows[OTHER]["platforms"] == {"shopify": True, "taobao": False}
    assert rows["DHL_EXPRESS"]["aliases"] == ["DHL"]
    assert rows["SF"]["local_name"] == "顺丰速运"
    assert "{tracking_number}" in rows["UPS"]["tracking_url_template"]
    assert (await anon.get("/v1/carriers")).status_code == 401
