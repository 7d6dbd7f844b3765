"""Response bodies of the operator's health view (`GET /v1/health/...`).

The field names are a contract with the dashboard and with operators' scripts: add fields,
never rename them. docs/operations.md ("Health and alerts") defines every number."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

HealthStatusOut = Literal["healthy", "degraded", "failing", "paused", "disconnected"]
SyncStateOut = Literal["never_run", "idle", "syncing", "backoff", "paused"]
InterfaceDirectionOut = Literal["call", "push"]


class HealthErrorOut(BaseModel):
    """The newest failure of a shop: the sync log's newest error of the last hour (with the
    explanation and the action to take), else the sync engine's last recorded error."""

    code: str | None = Field(description="The platform's error code, or ShopBridge's.")
    message: str | None = Field(description="The platform's words (scrubbed of buyer data).")
    explanation: str | None = Field(description="What the failure means, in plain words.")
    action: str | None = Field(description="What to do about it.")
    at: datetime | None
    interface: str | None = Field(description="The failing interface, when known.")


class InterfaceHealthOut(BaseModel):
    """One interface of a shop over the last hour."""

    interface: str = Field(description="The platform's name of the call, or a push's topic.")
    direction: InterfaceDirectionOut
    calls_1h: int = Field(description="Records in the last hour (calls made or pushes received).")
    errors_1h: int = Field(description="Of those, outcomes other than `ok` and `rate_limited`.")
    rate_limited_1h: int = Field(description="Of those, `rate_limited` (waited out, not errors).")
    error_rate_1h: float | None = Field(description="errors_1h / calls_1h; null without calls.")
    last_ok_at: datetime | None = Field(description="Newest success within the last hour.")
    last_error_at: datetime | None = Field(description="Newest error within the last hour.")
    last_error_code: str | None
    last_explanation: str | None
    last_action: str | None


class QueueOut(BaseModel):
    unsequenced_events: int = Field(
        description="The shop's events committed but not yet in the feed nor fanned out."
    )
    pending_deliveries: int = Field(
        description="Webhook deliveries of the shop's events not yet delivered (all endpoints)."
    )


class ShopHealthOut(BaseModel):
    """How one shop's integration is doing, and why."""

    shop_id: str
    display_name: str
    platform: str
    status: HealthStatusOut = Field(
        description="`disconnected`/`paused` (the shop's own status); `failing`: sync stopped "
        "by ShopBridge, authorisation expired, ≥ 50 % of ≥ 3 calls failed in 5 min, or 3 "
        "syncs in a row failed; `degraded`: ≥ 10 % of calls failed in 1 h, lag over 3 × the "
        "poll interval, or the token expires within 7 days; else `healthy`."
    )
    sync_state: SyncStateOut = Field(description="The sync engine's state for the shop.")
    last_success_at: datetime | None = Field(description="End of the last successful sync.")
    last_attempt_at: datetime | None = Field(
        description="Latest time ShopBridge tried to reach the platform for this shop."
    )
    last_error: HealthErrorOut | None
    lag_seconds: float | None = Field(
        description="Now minus the pull cursor's high water: every order changed on the "
        "platform before that moment is stored. Null before the first pull completed."
    )
    error_rate_5m: float | None = Field(description="errors / calls, last 5 min; null: no calls.")
    error_rate_1h: float | None = Field(description="errors / calls, last hour; null: no calls.")
    calls_5m: int = Field(description="Platform calls in the last 5 min (pushes excluded).")
    calls_1h: int = Field(description="Platform calls in the last hour (pushes excluded).")
    interfaces: list[InterfaceHealthOut]
    queue: QueueOut
    token_expires_at: datetime | None = Field(
        description="When the platform token expires, if the stored credentials say "
        "(`expires_at`, or `expire_time` as in Taobao's OAuth token response); else null."
    )
    alerts: list[str] = Field(description="Why the status is not `healthy`, one sentence each.")


class ShopHealthList(BaseModel):
    data: list[ShopHealthOut]


class WebhookHealthOut(BaseModel):
    """Backlog and dead letters of one webhook endpoint."""

    endpoint_id: str
    url: str
    enabled: bool
    pending: int = Field(description="Deliveries not yet delivered (the backlog).")
    failed: int = Field(description="Dead letters: given up or dropped when disabled.")
    oldest_pending_at: datetime | None = Field(
        description="When the oldest pending delivery was created: how far behind it is."
    )
    last_error: str | None = Field(
        description="The newest error of a pending or dead delivery (status or network error)."
    )
    last_error_at: datetime | None
    disabled_reason: str | None


class WebhookHealthList(BaseModel):
    data: list[WebhookHealthOut]
