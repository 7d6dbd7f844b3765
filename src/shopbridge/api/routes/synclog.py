"""The sync log: which interface is failing, why, and what to do about it.

The router also owns the API process's sync-log writer (its lifespan is merged into the
app's when the router is included), so every process serving the API flushes the calls and
pushes it handles itself (push intake, waybills, decrypts, the in-process sync worker)
without the app having to know about it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query

from shopbridge.api.deps import get_db
from shopbridge.api.pagination import decode_cursor, page_of, utc_filter
from shopbridge.api.problems import V1_ERRORS
from shopbridge.api.schemas import Page
from shopbridge.api.security import Principal, require
from shopbridge.api.synclog_schemas import SyncLogDirection, SyncLogEntryOut, SyncLogOutcome
from shopbridge.api.validation import ID_PATTERN, IsoDatetime
from shopbridge.storage.db import Database
from shopbridge.storage.synclog import list_entries
from shopbridge.storage.tables import SyncLogRow
from shopbridge.sync.synclog import SYNC_LOG


@asynccontextmanager
async def _writer(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan, after the database is opened and before it closes."""
    async with SYNC_LOG.writing(app.state.db):
        yield


router = APIRouter(responses=V1_ERRORS, tags=["operations"], lifespan=_writer)


def _out(row: SyncLogRow) -> SyncLogEntryOut:
    return SyncLogEntryOut(
        id=row.id,
        shop_id=row.shop_id,
        platform=row.platform,
        direction=SyncLogDirection(row.direction),
        interface=row.interface,
        outcome=SyncLogOutcome(row.outcome),
        duration_ms=row.duration_ms,
        http_status=row.http_status,
        code=row.code,
        message=row.message,
        explanation=row.explanation,
        action=row.action,
        created_at=row.created_at,
    )


@router.get("/sync-log", response_model=Page[SyncLogEntryOut], summary="Sync log")
async def list_sync_log(
    shop_id: Annotated[
        str | None, Query(pattern=ID_PATTERN, description="Only this shop's calls and pushes.")
    ] = None,
    platform: Annotated[
        str | None,
        Query(pattern=r"^[a-z][a-z0-9_]{1,31}$", description="Only this platform (`taobao`)."),
    ] = None,
    interface: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z0-9_.:/{}, -]{1,128}$",
            description="Only this interface, exactly as listed (`taobao.trade.fullinfo.get`, "
            "`orders.json`, `orders/updated`).",
        ),
    ] = None,
    outcome: Annotated[SyncLogOutcome | None, Query(description="Only this outcome.")] = None,
    failed: Annotated[
        bool | None,
        Query(description="`true`: every outcome but `ok`; `false`: only `ok`."),
    ] = None,
    since: Annotated[
        IsoDatetime | None,
        Query(description="Only records written at or after this time (ISO 8601 with offset)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    principal: Principal = require("shops:read"),
    db: Database = Depends(get_db),
) -> Page[SyncLogEntryOut]:
    """Newest first, the caller's tenant only: every call ShopBridge made to a platform
    (order pulls and fetches, stock updates, shipment confirmations, listings, waybills,
    decrypts, message-channel polls) and every push a platform sent, with the outcome, the
    duration and, for a failure, the platform's code and message, a plain explanation and
    the action to take. Records reach the log within about a second and are kept for
    `sync_log_retention_days`. No buyer data is ever written to it."""
    since_utc = utc_filter(since, "since")
    filters = {
        "r": "sync-log",
        "shop_id": shop_id,
        "platform": platform,
        "interface": interface,
        "outcome": outcome.value if outcome else None,
        "failed": failed,
        "since": since_utc.isoformat() if since_utc else None,
    }
    before = decode_cursor(cursor, filters)
    rows: Sequence[SyncLogRow]
    async with db.read() as session:
        rows = await list_entries(
            session,
            principal.tenant_id,
            shop_id=shop_id,
            platform=platform,
            interface=interface,
            outcome=outcome.value if outcome else None,
            failed=failed,
            since=since_utc,
            before_id=before,
            limit=limit + 1,
        )
    data, next_cursor, has_more = page_of(rows, limit, filters, _out)
    return Page(data=data, next_cursor=next_cursor, has_more=has_more)
