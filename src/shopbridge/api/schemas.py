"""Request and response bodies of the `/v1` API (what OpenAPI publishes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from shopbridge.api.security import Scope
from shopbridge.api.validation import ID_PATTERN, IsoDatetime, JsonObject, Name, Text
from shopbridge.core import Order
from shopbridge.core.platforms import available_platforms

T = TypeVar("T")

CredentialKey = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
]
CredentialValue = (
    Annotated[Text, StringConstraints(max_length=8192)] | StrictInt | StrictBool | None
)
PlatformShopId = Annotated[Text, StringConstraints(min_length=1, max_length=255)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null at the end."
    )
    has_more: bool


# --- tenants and keys -------------------------------------------------------------------


class TenantCreate(Strict):
    name: Name


class TenantOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class ApiKeyCreate(Strict):
    name: Name
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=32)]
    expires_at: IsoDatetime | None = Field(default=None, description="When the key stops working.")


class ApiKeyOut(BaseModel):
    id: str
    tenant_id: str
    name: str
    prefix: str = Field(description="First characters of the key, to recognise it.")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyIssued(ApiKeyOut):
    key: str = Field(description="The secret key. Shown only in this response: store it now.")


class TenantCreated(TenantOut):
    admin_key: ApiKeyIssued


class Me(BaseModel):
    tenant_id: str
    key_id: str
    scopes: list[str]


# --- shops ------------------------------------------------------------------------------

ShopStatusIn = Literal["active", "paused"]


class ShopCreate(Strict):
    platform: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="Platform identifier, see `GET /v1/platforms`.",
        examples=["shopify"],
        json_schema_extra={"enum": list[JsonValue](available_platforms())},
    )
    platform_shop_id: PlatformShopId = Field(
        description="The shop's id on the platform (Shopify domain, Taobao seller nick/id, ...)."
    )
    display_name: Name
    credentials: dict[CredentialKey, CredentialValue] | None = Field(
        default=None,
        max_length=50,
        description="Platform credentials (app key, secret, access token ...). Write-only: "
        "encrypted at rest and never returned.",
    )
    settings: JsonObject = Field(default_factory=dict)


class ShopUpdate(Strict):
    display_name: Name | None = None
    settings: JsonObject | None = None
    credentials: dict[CredentialKey, CredentialValue] | None = Field(default=None, max_length=50)
    status: ShopStatusIn | None = None


class ShopOut(BaseModel):
    id: str
    tenant_id: str
    platform: str
    platform_shop_id: str
    display_name: str
    status: Literal["active", "paused", "disconnected"]
    has_credentials: bool = Field(
        description="Whether credentials are stored (they are never returned)."
    )
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    disconnected_at: datetime | None


class SyncErrorOut(BaseModel):
    message: str
    code: str | None
    at: datetime | None


class ShopSyncOut(BaseModel):
    """How a shop's order sync is doing, as the operator needs it at 2 a.m."""

    shop_id: str
    state: Literal["never_run", "idle", "syncing", "backoff", "paused"]
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    next_run_at: datetime | None
    lag_seconds: float | None = Field(
        description="How far behind the platform the newest pulled window ends (now - cursor)."
    )
    consecutive_failures: int
    paused_reason: str | None = Field(description="Why syncing stopped (e.g. token expired).")
    last_error: SyncErrorOut | None
    unmapped_payloads: int = Field(description="Native payloads kept with a reason, not mapped.")


class PlatformOut(BaseModel):
    id: str
    connector_installed: bool


# --- orders -----------------------------------------------------------------------------


class OrderOut(Order):
    """A unified order as stored, with its ShopBridge bookkeeping. Buyer fields are masked
    unless the API key holds `pii:read`; `raw` is only included on request (`include_raw`)."""

    version: int = Field(description="Grows by one with every change ShopBridge records.")
    created_at: datetime
    updated_at: datetime
    buyer_data: Literal["stored", "in_memory", "dropped"] = Field(
        default="stored",
        description="Where this order's personal fields are: `stored` (encrypted at rest), "
        "`in_memory` (pass-through retention, until its events are delivered) or `dropped` "
        "(pass-through retention after delivery: the personal fields are absent).",
    )


class OrderSearch(Strict):
    """Find orders by a buyer's or receiver's phone, name or e-mail. The values travel in the
    body, not the URL, so they never reach access logs; they are compared as keyed hashes,
    never stored or compared in clear. Every given field must match."""

    phone: Annotated[Text, StringConstraints(min_length=5, max_length=40)] | None = None
    name: Annotated[Text, StringConstraints(min_length=1, max_length=200)] | None = None
    email: Annotated[Text, StringConstraints(min_length=3, max_length=320)] | None = None
    shop_id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: Annotated[str, StringConstraints(max_length=512)] | None = None

    @model_validator(mode="after")
    def _something_to_find(self) -> OrderSearch:
        if not (self.phone or self.name or self.email):
            raise ValueError("give at least one of phone, name, email")
        return self


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    database: str
    schema_revision: str | None
    retention: Literal["vault", "passthrough"] = Field(
        description="`vault`: buyer data encrypted at rest; `passthrough`: buyer data never "
        "written to disk (SHOPBRIDGE_RETENTION)."
    )
    orders_in_memory: int = Field(
        description="Pass-through: order versions whose buyer data this process still holds "
        "in memory for delivery (0 in vault mode)."
    )
