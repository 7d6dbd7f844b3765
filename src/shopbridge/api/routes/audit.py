"""The access audit: who saw buyer data unmasked, which fields, when, why and how."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from shopbridge.api.audit_schemas import AuditAction, AuditRecordOut
from shopbridge.api.deps import get_db
from shopbridge.api.pagination import decode_cursor, page_of, utc_filter
from shopbridge.api.problems import V1_ERRORS
from shopbridge.api.schemas import Page
from shopbridge.api.security import Principal, require
from shopbridge.api.validation import ID_PATTERN, IsoDatetime
from shopbridge.storage.audit import list_records
from shopbridge.storage.db import Database
from shopbridge.storage.tables import AuditRow

router = APIRouter(responses=V1_ERRORS, tags=["audit"])


def _out(row: AuditRow) -> AuditRecordOut:
    return AuditRecordOut(
        id=row.id,
        actor_type=row.actor_type,
        actor_id=row.actor_id,
        action=row.action,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        fields=list(row.fields),
        reason=row.reason,
        via=row.via,
        created_at=row.created_at,
    )


@router.get("/audit", response_model=Page[AuditRecordOut], summary="Access audit")
async def list_audit(
    order_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="Only records about this order.")
    ] = None,
    subject_id: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="Only records about this subject (any type)."),
    ] = None,
    actor_id: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="Only this API key id or webhook endpoint id."),
    ] = None,
    action: Annotated[AuditAction | None, Query(description="Only this action.")] = None,
    since: Annotated[
        IsoDatetime | None,
        Query(description="Only records written at or after this time (ISO 8601 with offset)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    principal: Principal = require("audit:read"),
    db: Database = Depends(get_db),
) -> Page[AuditRecordOut]:
    """Newest first, the caller's tenant only. One record per disclosure of buyer data: an
    unmasked order or event sent to an API key with `pii:read`, a native payload
    (`include_raw`), an attempt to deliver an unmasked event to a `pii_allowed` webhook
    endpoint, and every change of `pii_allowed`. Records name fields, never values; they are
    kept for `audit_retention_days`."""
    since_utc = utc_filter(since, "since")
    filters = {
        "r": "audit",
        "order_id": order_id,
        "subject_id": subject_id,
        "actor_id": actor_id,
        "action": action.value if action else None,
        "since": since_utc.isoformat() if since_utc else None,
    }
    before = decode_cursor(cursor, filters)
    rows: Sequence[AuditRow] = []
    # order_id and subject_id naming two different subjects match nothing.
    if not (order_id and subject_id and order_id != subject_id):
        async with db.read() as session:
            rows = await list_records(
                session,
                principal.tenant_id,
                subject_type="order" if order_id else None,
                subject_id=order_id or subject_id,
                actor_id=actor_id,
                action=action.value if action else None,
                since=since_utc,
                before_id=before,
                limit=limit + 1,
            )
    data, next_cursor, has_more = page_of(rows, limit, filters, _out)
    return Page(data=data, next_cursor=next_cursor, has_more=has_more)
