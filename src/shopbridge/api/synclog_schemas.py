"""Response body of the sync log (`GET /v1/sync-log`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class SyncLogOutcome(StrEnum):
    """How a platform call or push ended (values of `outcome`)."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    UNAVAILABLE = "unavailable"
    AUTH_EXPIRED = "auth_expired"
    REJECTED = "rejected"
    NOT_FOUND = "not_found"
    INVALID_RESPONSE = "invalid_response"
    ERROR = "error"


class SyncLogDirection(StrEnum):
    CALL = "call"
    PUSH = "push"


class SyncLogEntryOut(BaseModel):
    """One platform call made by ShopBridge, or one push the platform sent. Never buyer
    data: the platform's message is scrubbed of personal values and truncated."""

    id: str
    shop_id: str
    platform: str
    direction: SyncLogDirection = Field(
        description="`call`: ShopBridge called the platform; `push`: the platform pushed."
    )
    interface: str = Field(
        description="The platform's own name of the call (`taobao.trade.fullinfo.get`, "
        "`orders.json`) or, for a push, its topic(s) (`orders/updated`)."
    )
    outcome: SyncLogOutcome = Field(
        description="`ok`; `rate_limited` (waited out and retried); `timeout` and "
        "`unavailable` (platform slow or down, retried); `auth_expired` (re-authorise the "
        "shop); `rejected`, `not_found`, `invalid_response`, `error`."
    )
    duration_ms: int = Field(description="Duration of this one exchange, in milliseconds.")
    http_status: int | None = Field(description="The platform's HTTP status, if it answered.")
    code: str | None = Field(
        description="The platform's error code (`27/invalid-sessionkey`, `429`) or "
        "ShopBridge's (`timeout`, `connection`, `bad_signature`); null on success."
    )
    message: str | None = Field(
        description="The platform's own words for the failure (scrubbed, at most 500 characters)."
    )
    explanation: str | None = Field(description="What the failure means, in plain words.")
    action: str | None = Field(description='What to do about it ("Nothing to do" included).')
    created_at: datetime
