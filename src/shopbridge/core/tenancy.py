"""Tenants and the shops they connect.

A shop row must never hold a platform secret: `credentials_ref` points into the credential
vault, and `settings` refuses keys that look like secrets, so a dump of this table (or of an
API response) cannot leak an access token.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import Field, field_validator

from shopbridge.core.base import UnifiedModel
from shopbridge.core.enums import ShopStatus
from shopbridge.core.types import Identifier, JsonObject, PlatformId, ShortText, UtcDatetime

__all__ = ["Shop", "Tenant"]

_SECRET_KEY: Final = re.compile(
    r"secret|passw(or)?d|private_?key|access_?token|refresh_?token|api_?key|session_?key",
    re.IGNORECASE,
)


def _secret_keys(value: Any, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if _SECRET_KEY.search(key):
                found.append(where)
            found += _secret_keys(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _secret_keys(item, f"{path}[{i}]")
    return found


class Tenant(UnifiedModel):
    """An isolated customer of ShopBridge: its keys see only its own shops and events."""

    id: Identifier
    name: ShortText
    created_at: UtcDatetime


class Shop(UnifiedModel):
    """One store on one platform, connected by one tenant."""

    id: Identifier
    tenant_id: Identifier
    platform: PlatformId
    platform_shop_id: Identifier
    """The platform's id for the shop (Taobao seller id, `x.myshopify.com`)."""
    display_name: ShortText
    credentials_ref: Identifier | None = None
    """Reference to the credentials in the vault, never the credentials themselves."""
    settings: JsonObject = Field(default_factory=dict)
    """Per-shop sync options (time zone, stock rules, ...). No secrets."""
    status: ShopStatus = ShopStatus.ACTIVE
    created_at: UtcDatetime
    updated_at: UtcDatetime

    @field_validator("settings")
    @classmethod
    def _no_secrets(cls, value: dict[str, Any]) -> dict[str, Any]:
        found = _secret_keys(value, "settings")
        if found:
            raise ValueError(
                f"settings must not hold credentials ({', '.join(found)}); "
                "store them in the vault and set credentials_ref"
            )
        return value
