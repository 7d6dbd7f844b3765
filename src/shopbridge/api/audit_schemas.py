"""Response body of the access audit (`GET /v1/audit`)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class AuditAction(StrEnum):
    """What happened to buyer data (values of `action`)."""

    REVEAL = "reveal"
    RAW = "raw"
    DECRYPT = "decrypt"
    WAYBILL = "waybill"
    GRANT = "grant"
    REVOKE = "revoke"


class AuditRecordOut(BaseModel):
    """One disclosure of buyer data: who, what, which fields, why, and through which door.
    Never the data itself."""

    id: str
    actor_type: str = Field(description="`api_key`, `webhook_endpoint` or `cli`.")
    actor_id: str = Field(description="The API key id or webhook endpoint id.")
    action: str = Field(
        description="`reveal`: personal fields sent unmasked; `raw`: the native platform "
        "payload; `decrypt`: a platform decrypt call; `waybill`: receiver handed to a "
        "logistics API; `grant` / `revoke`: a webhook endpoint allowed / no longer allowed "
        "to receive buyer data."
    )
    subject_type: str = Field(description="`order` or `webhook_endpoint`.")
    subject_id: str | None
    fields: list[str] = Field(
        description="Field paths disclosed (e.g. `receiver.phone`, `receiver.address.lines[]`)."
    )
    reason: str | None = Field(description="The `Reveal-Reason` header of the request, if any.")
    via: str = Field(description="The route (e.g. `GET /v1/orders/{order_id}`) or `webhook`.")
    created_at: datetime
