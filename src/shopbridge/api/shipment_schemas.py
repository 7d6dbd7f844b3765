"""Request and response bodies of shipments, tracking and the carrier table.

Shipments carry no buyer data: carrier, tracking number, order line ids and quantities only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)

from shopbridge.api.schemas import Strict
from shopbridge.api.validation import IsoDatetime, Text
from shopbridge.core.types import MAX_QUANTITY

TrackingNumber = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")
]
"""Printable ASCII without spaces: one waybill number, as the carrier prints it."""

CarrierCodeIn = Annotated[str, StringConstraints(min_length=1, max_length=64)]
LineId = Annotated[Text, StringConstraints(min_length=1, max_length=255)]
Url = Annotated[Text, StringConstraints(max_length=2048, pattern=r"^https?://\S+$")]
TrackingStatusName = Literal[
    "info_received", "in_transit", "out_for_delivery", "delivered", "exception", "returned"
]
ShipmentState = Literal["pending", "confirmed", "rejected"]


class ShipmentLineIn(Strict):
    line_id: LineId = Field(description="The order line's `native_id` (as in the order).")
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY)]


class ShipmentCreate(Strict):
    carrier_code: CarrierCodeIn = Field(
        description="Unified carrier code from `GET /v1/carriers` (case does not matter), "
        "e.g. `SF`, `UPS`, `OTHER`; an unknown code answers 422 `unknown-carrier`.",
        examples=["SF"],
    )
    tracking_number: TrackingNumber
    lines: list[ShipmentLineIn] | None = Field(
        default=None,
        max_length=500,
        description="What this package carries; empty or omitted: every line not shipped yet.",
    )
    tracking_url: Url | None = None
    carrier_name: Annotated[Text, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="The carrier's name; required for `OTHER`."
    )
    notify_buyer: StrictBool = Field(
        default=False, description="Ask the platform to notify the buyer (where it can)."
    )

    @field_validator("lines")
    @classmethod
    def _unique_lines(cls, lines: list[ShipmentLineIn] | None) -> list[ShipmentLineIn] | None:
        ids = [line.line_id for line in lines or []]
        if len(ids) != len(set(ids)):
            raise ValueError("each line_id may appear once; add the quantities up")
        return lines


class ShipmentLineOut(BaseModel):
    line_id: str
    quantity: int


class ShipmentErrorOut(BaseModel):
    code: str | None = Field(description="The platform's (or ShopBridge's) code, e.g. `gave_up`.")
    message: str | None


class ShipmentOut(BaseModel):
    """A shipment and where its confirmation on the platform stands."""

    id: str
    order_id: str
    shop_id: str
    platform: str
    platform_order_id: str
    carrier_code: str
    carrier_name: str | None
    tracking_number: str
    tracking_url: str | None = Field(
        description="As given, or the carrier's public tracking page when the table has one."
    )
    lines: list[ShipmentLineOut] = Field(
        description="Empty: every line that was not shipped yet when it was recorded."
    )
    notify_buyer: bool
    state: ShipmentState = Field(
        description="`pending`: being confirmed (see `next_attempt_at`, `error`); "
        "`confirmed`: the platform shows it; `rejected`: the platform refused it (`error`), "
        "not retried."
    )
    platform_shipment_id: str | None
    error: ShipmentErrorOut | None = Field(
        description="Why it was rejected, or why the last attempt of a pending one failed."
    )
    attempts: int
    next_attempt_at: datetime | None
    tracking_status: TrackingStatusName | None
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None


class TrackingEventIn(Strict):
    occurred_at: IsoDatetime = Field(description="When it happened (ISO 8601 with offset).")
    status: TrackingStatusName
    description: Annotated[Text, StringConstraints(max_length=2000)] | None = None
    location: Annotated[Text, StringConstraints(max_length=255)] | None = None


class TrackingUpdate(Strict):
    events: list[TrackingEventIn] = Field(min_length=1, max_length=500)
    source: Literal["erp", "carrier"] = "erp"


class TrackingEventOut(BaseModel):
    occurred_at: datetime
    status: TrackingStatusName
    description: str | None
    location: str | None
    source: str
    recorded_at: datetime


class ShipmentDetail(ShipmentOut):
    tracking_events: list[TrackingEventOut] = Field(description="Oldest first.")


class TrackingUpdateOut(BaseModel):
    added: int = Field(description="Events stored now.")
    duplicates: int = Field(description="Events already stored (same time and status): ignored.")
    shipment: ShipmentDetail


class CarrierOut(BaseModel):
    code: str
    name: str
    local_name: str | None
    aliases: list[str] = Field(description="Other spellings accepted as `carrier_code`.")
    tracking_url_template: str | None = Field(
        description="Public tracking page, `{tracking_number}` to be replaced."
    )
    platforms: dict[str, bool | None] = Field(
        description="Per installed platform: accepted by default (some platforms let a shop "
        "add carriers in its settings); null when the connector does not say."
    )


class CarrierList(BaseModel):
    data: list[CarrierOut]
