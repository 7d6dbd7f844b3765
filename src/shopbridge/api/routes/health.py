"""The operator's health view: which shop and which interface is failing, why, what to do,
and how far behind the webhook receivers are. Read-only; computed on request from the sync
log, the sync state and the queues (`shopbridge.storage.health`)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Path, Query

from shopbridge.api.deps import get_box, get_db, get_settings
from shopbridge.api.health_schemas import (
    HealthErrorOut,
    InterfaceDirectionOut,
    InterfaceHealthOut,
    QueueOut,
    ShopHealthList,
    ShopHealthOut,
    SyncStateOut,
    WebhookHealthList,
    WebhookHealthOut,
)
from shopbridge.api.problems import V1_ERRORS
from shopbridge.api.security import Principal, require
from shopbridge.api.validation import ID_PATTERN
from shopbridge.config import Settings
from shopbridge.core.time import utcnow
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.errors import NotFound
from shopbridge.storage.health import ShopHealth, shop_health, webhook_health

router = APIRouter(responses=V1_ERRORS, tags=["operations"])
ShopId = Annotated[str, Path(pattern=ID_PATTERN)]


def _out(health: ShopHealth) -> ShopHealthOut:
    error = health.last_error
    return ShopHealthOut(
        shop_id=health.shop_id,
        display_name=health.display_name,
        platform=health.platform,
        status=health.status,
        sync_state=cast(SyncStateOut, health.sync_state),
        last_success_at=health.last_success_at,
        last_attempt_at=health.last_attempt_at,
        last_error=(
            HealthErrorOut(
                code=error.code,
                message=error.message,
                explanation=error.explanation,
                action=error.action,
                at=error.at,
                interface=error.interface,
            )
            if error is not None
            else None
        ),
        lag_seconds=health.lag_seconds,
        error_rate_5m=health.error_rate_5m,
        error_rate_1h=health.error_rate_1h,
        calls_5m=health.calls_5m,
        calls_1h=health.calls_1h,
        interfaces=[
            InterfaceHealthOut(
                interface=i.interface,
                direction=cast(InterfaceDirectionOut, i.direction),
                calls_1h=i.calls_1h,
                errors_1h=i.errors_1h,
                rate_limited_1h=i.rate_limited_1h,
                error_rate_1h=i.error_rate_1h,
                last_ok_at=i.last_ok_at,
                last_error_at=i.last_error_at,
                last_error_code=i.last_error_code,
                last_explanation=i.last_explanation,
                last_action=i.last_action,
            )
            for i in health.interfaces
        ],
        queue=QueueOut(
            unsequenced_events=health.unsequenced_events,
            pending_deliveries=health.pending_deliveries,
        ),
        token_expires_at=health.token_expires_at,
        alerts=health.alerts,
    )


async def _health(
    db: Database,
    box: SecretBox,
    settings: Settings,
    tenant_id: str,
    shop_id: str | None = None,
    platform: str | None = None,
) -> list[ShopHealth]:
    async with db.read() as session:
        shops = await shop_health(
            session,
            box=box,
            default_poll_interval=settings.sync_poll_interval_seconds,
            now=utcnow(),
            tenant_ids=[tenant_id],
            shop_ids=[shop_id] if shop_id else None,
            platform=platform,
        )
    return shops


@router.get("/health/shops", response_model=ShopHealthList, summary="Health of every shop")
async def shops_health(
    platform: Annotated[
        str | None,
        Query(pattern=r"^[a-z][a-z0-9_]{1,31}$", description="Only this platform (`taobao`)."),
    ] = None,
    principal: Principal = require("shops:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
    settings: Settings = Depends(get_settings),
) -> ShopHealthList:
    """Every shop of the caller's tenant (disconnected ones included) with its status and the
    reasons for it, the last success and error (with the explanation and action), lag,
    error rates over 5 minutes and 1 hour, per-interface figures for the last hour, its
    queue depth and token expiry. Computed on request with a few grouped queries; fine to
    poll every few seconds."""
    shops = await _health(db, box, settings, principal.tenant_id, platform=platform)
    return ShopHealthList(data=[_out(s) for s in shops])


@router.get("/health/shops/{shop_id}", response_model=ShopHealthOut, summary="Health of one shop")
async def one_shop_health(
    shop_id: ShopId,
    principal: Principal = require("shops:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
    settings: Settings = Depends(get_settings),
) -> ShopHealthOut:
    """One shop of the caller's tenant, as in `GET /v1/health/shops`."""
    shops = await _health(db, box, settings, principal.tenant_id, shop_id=shop_id)
    if not shops:
        raise NotFound(f"shop {shop_id} not found")
    return _out(shops[0])


@router.get(
    "/health/webhooks", response_model=WebhookHealthList, summary="Webhook backlog per endpoint"
)
async def webhooks_health(
    principal: Principal = require("webhooks:read"),
    db: Database = Depends(get_db),
) -> WebhookHealthList:
    """Every webhook endpoint of the caller's tenant with its backlog (`pending`, and when the
    oldest of it was created), its dead letters (`failed`), the newest delivery error and why
    it was disabled, if it was."""
    async with db.read() as session:
        endpoints = await webhook_health(session, principal.tenant_id)
    return WebhookHealthList(
        data=[
            WebhookHealthOut(
                endpoint_id=e.endpoint_id,
                url=e.url,
                enabled=e.enabled,
                pending=e.pending,
                failed=e.failed,
                oldest_pending_at=e.oldest_pending_at,
                last_error=e.last_error,
                last_error_at=e.last_error_at,
                disabled_reason=e.disabled_reason,
            )
            for e in endpoints
        ]
    )
