"""Request and response bodies of webhook endpoints, the event feed and replay."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    model_validator,
)

from shopbridge.api.schemas import Strict
from shopbridge.api.validation import IsoDatetime, Text
from shopbridge.core.events import EVENT_TYPES
from shopbridge.delivery.signing import check_secret

IdText = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def _known_event_type(name: str) -> str:
    if name not in EVENT_TYPES or name == "webhook.test":
        raise ValueError(f"unknown event type {name!r}; see GET /v1/event-types")
    return name


EventTypeName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_known_event_type)]
Secret = Annotated[str, StringConstraints(max_length=200), AfterValidator(check_secret)]
Url = Annotated[Text, StringConstraints(min_length=1, max_length=2048)]
Description = Annotated[Text, StringConstraints(max_length=500)]


class WebhookEndpointCreate(Strict):
    url: Url = Field(description="http(s) URL that receives the events (no credentials in it).")
    description: Description = ""
    event_types: list[EventTypeName] = Field(
        default_factory=list, max_length=50, description="Only these types; empty = all."
    )
    shop_ids: list[IdText] = Field(
        default_factory=list, max_length=500, description="Only these shops; empty = all."
    )
    enabled: StrictBool = True
    pii_allowed: StrictBool = Field(
        default=False,
        description="Send buyer data unmasked. Needs the `pii:read` scope to set.",
    )
    secret: Secret | None = Field(
        default=None,
        description="Your own signing secret (`whsec_` + base64 of 24-64 bytes); "
        "one is generated when omitted.",
    )


class WebhookEndpointUpdate(Strict):
    url: Url | None = None
    description: Description | None = None
    event_types: list[EventTypeName] | None = Field(default=None, max_length=50)
    shop_ids: list[IdText] | None = Field(default=None, max_length=500)
    enabled: StrictBool | None = Field(
        default=None,
        description="false disables (pending deliveries become dead letters); "
        "true re-enables a disabled endpoint.",
    )
    pii_allowed: StrictBool | None = None


class WebhookEndpointOut(BaseModel):
    id: str
    url: str
    description: str
    event_types: list[str]
    shop_ids: list[str]
    enabled: bool
    pii_allowed: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    last_success_at: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="While in the future, the previous secret also signs (rotation overlap)."
    )
    created_at: datetime
    updated_at: datetime


class DeliveryCountsOut(BaseModel):
    pending: int
    succeeded: int
    failed: int


class WebhookEndpointDetail(WebhookEndpointOut):
    deliveries: DeliveryCountsOut


class WebhookEndpointCreated(WebhookEndpointOut):
    secret: str = Field(description="The signing secret. Shown only here and on rotation.")


class SecretRotate(Strict):
    overlap_seconds: int = Field(
        default=86_400,
        ge=0,
        le=7 * 86_400,
        description="How long the previous secret keeps signing too (0 = stop at once).",
    )
    secret: Secret | None = None


class SecretRotated(BaseModel):
    secret: str
    previous_secret_expires_at: datetime | None


class WebhookTestOut(BaseModel):
    delivered: bool
    event_id: str
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    state: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_response: str | None
    created_at: datetime
    delivered_at: datetime | None


class EventOut(BaseModel):
    id: str = Field(description="Stable across retries and replays: deduplicate on it.")
    type: str
    timestamp: str
    tenant_id: str
    shop_id: str | None
    cursor: str | None = Field(description="Feed position of this event (opaque).")
    data: dict[str, Any]


class EventFeed(BaseModel):
    data: list[EventOut]
    next_cursor: str = Field(description="Pass as `after` next time (also when `data` is empty).")
    has_more: bool


class EventTypeOut(BaseModel):
    name: str
    description: str


class ReplayRequest(Strict):
    """Exactly one of: `event_id` (optionally with `endpoint_id`); `endpoint_id` with
    `state: failed`; `shop_id` with `since` (optionally `until`, `endpoint_id`)."""

    event_id: IdText | None = None
    endpoint_id: IdText | None = None
    state: Literal["failed"] | None = None
    shop_id: IdText | None = None
    since: IsoDatetime | None = None
    until: IsoDatetime | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> ReplayRequest:
        modes = [
            self.event_id is not None,
            self.state is not None,
            self.shop_id is not None or self.since is not None,
        ]
        if sum(modes) != 1:
            raise ValueError(
                "give exactly one of: event_id; endpoint_id with state=failed; shop_id with since"
            )
        if self.state is not None and self.endpoint_id is None:
            raise ValueError("state=failed needs endpoint_id")
        if (self.shop_id is None) != (self.since is None):
            raise ValueError("shop_id and since go together")
        if self.until is not None and (self.since is None or self.until <= self.since):
            raise ValueError("until must come after since")
        return self


class ReplayOut(BaseModel):
    scheduled: int = Field(description="Deliveries queued again (or for the first time).")
