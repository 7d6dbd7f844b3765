"""Request and response bodies of stock, allocation rules and listings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictInt, StringConstraints, model_validator

from shopbridge.api.schemas import Strict
from shopbridge.api.validation import IsoDatetime, Text

Sku = Annotated[Text, StringConstraints(min_length=1, max_length=255)]
Warehouse = Annotated[Text, StringConstraints(min_length=1, max_length=64)]
ShopIdText = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class StockSetItem(Strict):
    sku: Sku
    warehouse: Warehouse = "default"
    on_hand: StrictInt = Field(ge=0, le=1_000_000_000)
    version: StrictInt | None = Field(
        default=None,
        ge=0,
        le=2**63 - 1,
        description="Your monotonic version of this SKU's stock.",
    )
    as_of: IsoDatetime | None = Field(
        default=None, description="Or: when this count was true (used as the version)."
    )

    @model_validator(mode="after")
    def _one_version(self) -> StockSetItem:
        if (self.version is None) == (self.as_of is None):
            raise ValueError("give exactly one of version or as_of")
        return self

    @property
    def ordering(self) -> int:
        if self.as_of is not None:
            return int(self.as_of.timestamp() * 1_000_000)
        assert self.version is not None
        return self.version


class StockSetIn(Strict):
    items: list[StockSetItem] = Field(min_length=1, max_length=1000)


class StockSetResult(BaseModel):
    sku: str
    warehouse: str
    applied: bool
    on_hand: int
    reason: str | None = Field(description="Why it was not applied (an older version).")


class StockSetOut(BaseModel):
    results: list[StockSetResult]


class AdjustmentIn(Strict):
    sku: Sku
    warehouse: Warehouse = "default"
    delta: StrictInt = Field(ge=-1_000_000_000, le=1_000_000_000)
    reason: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    reference: Annotated[Text, StringConstraints(max_length=255)] | None = None

    @model_validator(mode="after")
    def _not_zero(self) -> AdjustmentIn:
        if self.delta == 0:
            raise ValueError("delta must not be 0")
        return self


class AdjustmentsIn(Strict):
    adjustments: list[AdjustmentIn] = Field(min_length=1, max_length=1000)


class ShopCap(Strict):
    percent: StrictInt | None = Field(default=None, ge=0, le=100)
    fixed: StrictInt | None = Field(default=None, ge=0, le=1_000_000_000)


class RulesIn(Strict):
    safety_stock: StrictInt | None = Field(default=None, ge=0, le=1_000_000_000)
    low_stock_threshold: StrictInt | None = Field(
        default=None,
        ge=0,
        le=1_000_000_000,
        description="At or below this ATP, allocation switches to split.",
    )
    allocation: Literal["shared", "split"] | None = Field(
        default=None,
        description="shared: every listing shows the whole ATP; split: the listings together "
        "never show more than the ATP.",
    )
    shop_caps: dict[ShopIdText, ShopCap] | None = Field(default=None, max_length=200)


class WarehouseOut(BaseModel):
    warehouse: str
    on_hand: int
    version: int | None
    updated_at: datetime


class ReservationOut(BaseModel):
    order_id: str
    shop_id: str
    line_no: int
    quantity: int
    state: str
    updated_at: datetime


class ListingOut(BaseModel):
    id: str
    shop_id: str
    platform_listing_id: str
    platform_sku_id: str | None
    platform_variant_id: str | None
    merchant_sku: str | None
    title: str | None
    mapping: Literal["auto", "manual", "unmapped"]
    components: list[dict[str, object]]
    platform_quantity: int | None
    target_quantity: int | None = Field(description="What ShopBridge wants the platform to show.")
    pushed_quantity: int | None = Field(
        description="What the platform shows as far as ShopBridge knows: the value last "
        "pushed, minus the units this listing sold since."
    )
    pushed_at: datetime | None
    push_state: Literal["idle", "pending", "failed"]
    last_error: str | None
    last_error_at: datetime | None
    updated_at: datetime


class LedgerOut(BaseModel):
    at: datetime
    kind: str
    actor: str
    reason: str | None
    reference: str | None
    warehouse: str | None
    on_hand_before: int
    on_hand_after: int
    reserved_before: int
    reserved_after: int


class StockOut(BaseModel):
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    available: int = Field(description="Available to promise: on hand - reserved - safety.")
    allocation: str
    low_stock_threshold: int | None
    shop_caps: dict[str, dict[str, int | None]]
    tracked: bool = Field(description="false until the ERP has stated this SKU's stock.")
    updated_at: datetime


class StockDetail(StockOut):
    warehouses: list[WarehouseOut]
    reservations: list[ReservationOut] = Field(description="Open reservations (newest 100).")
    listings: list[ListingOut]
    ledger: list[LedgerOut] = Field(description="Newest 50 changes; see /ledger for more.")


class ComponentIn(Strict):
    sku: Sku
    quantity: StrictInt = Field(default=1, ge=1, le=1000)


class MappingIn(Strict):
    components: list[ComponentIn] | None = Field(
        min_length=1,
        max_length=50,
        description="The SKUs one unit of this listing takes (several = a bundle); "
        "null returns the listing to automatic mapping by its merchant SKU code.",
    )


class ListingSyncOut(BaseModel):
    created: int
    updated: int
    unmapped: int
