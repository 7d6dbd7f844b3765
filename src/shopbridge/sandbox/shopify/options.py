"""Configuration of one Shopify sandbox (one shop, one app installation)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_SCOPES: tuple[str, ...] = (
    "read_orders",
    "write_orders",
    "read_all_orders",
    "read_products",
    "write_products",
    "read_inventory",
    "write_inventory",
    "read_locations",
    "read_fulfillments",
    "write_fulfillments",
    "read_merchant_managed_fulfillment_orders",
    "write_merchant_managed_fulfillment_orders",
    "read_customers",
)

_DEFAULT_TIMEZONE = {"USD": "America/New_York", "CNY": "Asia/Shanghai"}

# Used only when the system has no tz database (no DST in the fallback).
_FALLBACK_OFFSETS = {"America/New_York": -5, "Asia/Shanghai": 8, "UTC": 0, "Etc/UTC": 0}


def load_zone(name: str) -> tzinfo:
    """Return the tzinfo for an IANA zone name; raise ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        if name in _FALLBACK_OFFSETS:
            return timezone(timedelta(hours=_FALLBACK_OFFSETS[name]), name)
        raise ValueError(f"unknown timezone: {name}") from exc


class ShopifySandboxOptions(BaseModel):
    """Everything that defines a Shopify sandbox run.

    The defaults give a working shop: ``demo-shop.myshopify.com`` in USD with 50 recent
    orders, the token ``shpat_sandbox_token`` and Shopify's standard REST rate limit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_key: str = Field(default="sandbox-app-key", min_length=1)
    """The app's API key (client id). Informational."""
    app_secret: str = Field(default="sandbox-app-secret", min_length=1)
    """The app's client secret: signs ``X-Shopify-Hmac-Sha256`` on every webhook."""
    access_token: str = Field(default="shpat_sandbox_token", min_length=1)
    """The Admin API access token that identifies the shop (``X-Shopify-Access-Token``)."""
    shop_domain: str = Field(default="demo-shop.myshopify.com", min_length=3)
    shop_name: str = "Demo Shop"
    currency: Literal["USD", "CNY"] = "USD"
    """Shop currency. USD shops add sales tax on top; CNY shops include 13 % VAT."""
    timezone: str | None = None
    """IANA zone for shop-local timestamps; default America/New_York (USD), Asia/Shanghai (CNY)."""
    seed: int = Field(default=50, ge=0, le=100_000)
    """Number of orders created at start, spread over the last ``seed_days`` days."""
    seed_days: int = Field(default=14, ge=1, le=365)
    random_seed: int = 1
    """Seed of every generated value (ids, buyers, amounts, scenario choices)."""
    push_url: str | None = None
    """If set, every webhook topic the sandbox emits is also POSTed here."""
    orders_per_second: float = Field(default=0.0, ge=0.0, le=1000.0)
    """Live stream: new orders per second, with as many status changes; 0 = off."""
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    """Granted access scopes (``write_x`` implies ``read_x``)."""
    oldest_api_version: str = Field(default="2024-01", pattern=r"^\d{4}-(01|04|07|10)$")
    """Oldest version served natively; older versions fall forward to it."""
    webhook_api_version: str | None = Field(default=None, pattern=r"^\d{4}-(01|04|07|10)$")
    """``X-Shopify-API-Version`` of pushes to ``push_url``; default = latest stable."""
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=9, ge=1, le=50)
    """First attempt + retries (Shopify: 8 retries)."""
    webhook_backoff_seconds: float = Field(default=1.0, ge=0)
    """Delay after the first failed attempt; doubles each time."""
    webhook_backoff_max_seconds: float = Field(default=3600.0, ge=0)
    rate_limit_bucket_size: int = Field(default=40, ge=1)
    rate_limit_leak_per_second: float = Field(default=2.0, gt=0)
    control_token: str | None = None
    """If set, ``/_sandbox/*`` requires header ``X-Sandbox-Token`` with this value."""
    start_time: datetime | None = None
    """Pin "now" for seeding (timezone-aware) to make seeded timestamps reproducible."""

    @field_validator("push_url")
    @classmethod
    def _check_push_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("push_url must be an absolute http(s) URL")
        return value

    @field_validator("start_time")
    @classmethod
    def _check_start_time(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("start_time must be timezone-aware")
        return value

    @model_validator(mode="after")
    def _check_zone(self) -> ShopifySandboxOptions:
        load_zone(self.shop_timezone)
        return self

    @property
    def shop_timezone(self) -> str:
        return self.timezone or _DEFAULT_TIMEZONE[self.currency]

    @property
    def shop_handle(self) -> str:
        return self.shop_domain.split(".", 1)[0]

    def granted_scopes(self) -> frozenset[str]:
        """Scopes including the read scopes implied by write scopes."""
        granted = set(self.scopes)
        for scope in self.scopes:
            if scope.startswith("write_"):
                granted.add("read_" + scope.removeprefix("write_"))
        return frozenset(granted)
