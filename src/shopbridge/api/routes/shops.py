"""Shops: connect, list, get, update settings/credentials, disconnect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from shopbridge.api.deps import get_box, get_db
from shopbridge.api.pagination import decode_cursor, page_of
from shopbridge.api.problems import V1_ERRORS, FieldError, ProblemError
from shopbridge.api.schemas import (
    Page,
    PlatformOut,
    ShopCreate,
    ShopOut,
    ShopSyncOut,
    ShopUpdate,
    SyncErrorOut,
)
from shopbridge.api.security import Principal, authenticate, require
from shopbridge.api.validation import ID_PATTERN
from shopbridge.core.platforms import available_platforms, registered_platforms
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.errors import Conflict
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import ShopRow
from shopbridge.sync.state import SyncStatus, resume_sync, sync_status

router = APIRouter(responses=V1_ERRORS, tags=["shops"])
ShopId = Annotated[str, Path(pattern=ID_PATTERN)]
ShopStatusFilter = Annotated[str | None, Query(pattern=r"^(active|paused|disconnected)$")]
PlatformFilter = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,31}$")]


def shop_out(row: ShopRow) -> ShopOut:
    return ShopOut(
        id=row.id,
        tenant_id=row.tenant_id,
        platform=row.platform,
        platform_shop_id=row.platform_shop_id,
        display_name=row.display_name,
        status=row.status,
        has_credentials=row.credentials_sealed is not None,
        settings=row.settings,
        created_at=row.created_at,
        updated_at=row.updated_at,
        disconnected_at=row.disconnected_at,
    )


def check_platform(platform: str, *, pointer: str = "#/platform") -> None:
    known = available_platforms()
    if platform not in known:
        detail = f"Unknown platform {platform!r}. Known platforms: {', '.join(known)}."
        raise ProblemError(
            422,
            "unknown-platform",
            "Unknown platform",
            detail,
            errors=[FieldError(detail=detail, pointer=pointer, code="unknown_platform")],
        )


@router.get("/platforms", response_model=list[PlatformOut], summary="Platforms this install knows")
async def platforms(_: Principal = Depends(authenticate)) -> list[PlatformOut]:
    installed = registered_platforms()
    return [PlatformOut(id=p, connector_installed=p in installed) for p in available_platforms()]


@router.post(
    "/shops",
    response_model=ShopOut,
    status_code=201,
    summary="Connect a shop",
    responses={200: {"model": ShopOut, "description": "A disconnected shop was reconnected."}},
)
async def connect_shop(
    body: ShopCreate,
    response: Response,
    principal: Principal = require("shops:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> ShopOut:
    """Connects a shop to the caller's tenant. Connecting a shop that was disconnected
    reconnects it (200) with the new credentials; one that is connected answers 409."""
    check_platform(body.platform)
    async with db.transaction() as session:
        row, created = await ShopRepository(session, principal.tenant_id, box).connect(
            platform=body.platform,
            platform_shop_id=body.platform_shop_id,
            display_name=body.display_name,
            credentials=body.credentials,
            settings=body.settings,
        )
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/v1/shops/{row.id}"
    return shop_out(row)


@router.get("/shops", response_model=Page[ShopOut], summary="List shops")
async def list_shops(
    platform: PlatformFilter = None,
    status: ShopStatusFilter = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    principal: Principal = require("shops:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> Page[ShopOut]:
    filters = {"r": "shops", "platform": platform, "status": status}
    after = decode_cursor(cursor, filters)
    async with db.read() as session:
        rows = await ShopRepository(session, principal.tenant_id, box).list(
            platform=platform, status=status, after=after, limit=limit + 1
        )
    data, next_cursor, has_more = page_of(rows, limit, filters, shop_out)
    return Page(data=data, next_cursor=next_cursor, has_more=has_more)


@router.get("/shops/{shop_id}", response_model=ShopOut, summary="Get a shop")
async def get_shop(
    shop_id: ShopId,
    principal: Principal = require("shops:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> ShopOut:
    async with db.read() as session:
        return shop_out(await ShopRepository(session, principal.tenant_id, box).get(shop_id))


@router.get("/shops/{shop_id}/sync", response_model=ShopSyncOut, summary="Sync status of a shop")
async def shop_sync(
    shop_id: ShopId,
    principal: Principal = require("shops:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> ShopSyncOut:
    """Last successful sync, lag, failures and the reason of the last error or pause."""
    async with db.read() as session:
        await ShopRepository(session, principal.tenant_id, box).get(shop_id)
        status = await sync_status(session, shop_id)
    return sync_out(shop_id, status)


@router.post(
    "/shops/{shop_id}/sync",
    response_model=ShopSyncOut,
    status_code=202,
    summary="Sync a shop now",
)
async def request_shop_sync(
    shop_id: ShopId,
    principal: Principal = require("shops:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> ShopSyncOut:
    """Makes the shop's next pull due now (a sync worker picks it up within seconds) and
    lifts a sync pause such as an expired token. The shop's own status is left alone: a
    paused shop answers 409 (resume it first with `PATCH … {"status": "active"}`), a
    disconnected one too."""
    async with db.transaction() as session:
        row = await ShopRepository(session, principal.tenant_id, box).get(shop_id)
        if row.status != "active":
            raise Conflict(
                f"shop {shop_id} is {row.status}; "
                + (
                    'resume it first (PATCH with {"status": "active"})'
                    if row.status == "paused"
                    else "connect it again first"
                )
            )
        await resume_sync(session, row)
        status = await sync_status(session, shop_id)
    return sync_out(shop_id, status)


def sync_out(shop_id: str, status: SyncStatus) -> ShopSyncOut:
    error = None
    if status.last_error:
        error = SyncErrorOut(
            message=status.last_error, code=status.last_error_code, at=status.last_error_at
        )
    return ShopSyncOut(
        shop_id=shop_id,
        state=status.state,
        last_success_at=status.last_success_at,
        last_attempt_at=status.last_attempt_at,
        next_run_at=status.next_run_at,
        lag_seconds=status.lag_seconds,
        consecutive_failures=status.consecutive_failures,
        paused_reason=status.paused_reason,
        last_error=error,
        unmapped_payloads=status.unmapped,
    )


@router.patch("/shops/{shop_id}", response_model=ShopOut, summary="Update a shop")
async def update_shop(
    shop_id: ShopId,
    body: ShopUpdate,
    principal: Principal = require("shops:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> ShopOut:
    """Changes the display name, replaces settings or credentials, pauses or resumes."""
    async with db.transaction() as session:
        row = await ShopRepository(session, principal.tenant_id, box).update(
            shop_id,
            display_name=body.display_name,
            settings=body.settings,
            credentials=body.credentials,
            status=body.status,
        )
        if body.credentials is not None or body.status == "active":
            # New credentials (or an explicit resume) lift a pause such as an expired token.
            await resume_sync(session, row)
    return shop_out(row)


@router.post("/shops/{shop_id}/disconnect", response_model=ShopOut, summary="Disconnect a shop")
async def disconnect_shop(
    shop_id: ShopId,
    principal: Principal = require("shops:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> ShopOut:
    """Stops syncing and erases the credentials. Orders already downloaded stay readable."""
    async with db.transaction() as session:
        row = await ShopRepository(session, principal.tenant_id, box).disconnect(shop_id)
    return shop_out(row)
