"""Webhook endpoints: subscribe, rotate secrets, test, inspect deliveries and dead letters."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.api.deps import get_box, get_db
from shopbridge.api.pagination import decode_cursor, page_of
from shopbridge.api.problems import V1_ERRORS, FieldError, ProblemError
from shopbridge.api.reveal import RevealReasonHeader, reveal_reason
from shopbridge.api.schemas import Page
from shopbridge.api.security import Principal, require
from shopbridge.api.validation import ID_PATTERN
from shopbridge.api.webhook_schemas import (
    DeliveryCountsOut,
    DeliveryOut,
    SecretRotate,
    SecretRotated,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointDetail,
    WebhookEndpointOut,
    WebhookEndpointUpdate,
    WebhookTestOut,
)
from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.delivery.dispatcher import post_signed
from shopbridge.delivery.envelope import encode
from shopbridge.delivery.http import WebhookClient
from shopbridge.delivery.signing import generate_secret
from shopbridge.delivery.urls import InvalidWebhookUrl, check_webhook_url
from shopbridge.storage.audit import GRANT, REVOKE, Access, record
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import WebhookDeliveryRow, WebhookEndpointRow
from shopbridge.storage.webhooks import PENDING, WebhookRepository, signing_secrets

router = APIRouter(responses=V1_ERRORS, tags=["webhooks"])
EndpointId = Annotated[str, Path(pattern=ID_PATTERN)]
TEST_TIMEOUT_SECONDS = 10.0


def endpoint_fields(row: WebhookEndpointRow) -> dict[str, object]:
    return {
        "id": row.id,
        "url": row.url,
        "description": row.description,
        "event_types": row.event_types,
        "shop_ids": row.shop_ids,
        "enabled": row.enabled,
        "pii_allowed": row.pii_allowed,
        "disabled_reason": row.disabled_reason,
        "disabled_at": row.disabled_at,
        "failing_since": row.failing_since,
        "last_success_at": row.last_success_at,
        "previous_secret_expires_at": row.previous_secret_expires_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def delivery_out(row: WebhookDeliveryRow, event_type: str) -> DeliveryOut:
    return DeliveryOut(
        id=row.id,
        event_id=row.event_id,
        event_type=event_type,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.state == PENDING else None,
        last_attempt_at=row.last_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        last_response=row.last_response,
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


async def _checked_url(url: str) -> str:
    try:
        return await check_webhook_url(url)
    except InvalidWebhookUrl as exc:
        raise ProblemError(
            422,
            "invalid-webhook-url",
            "Invalid webhook URL",
            str(exc),
            errors=[FieldError(detail=str(exc), pointer="#/url", code="invalid_webhook_url")],
        ) from exc


def _check_pii(
    principal: Principal,
    wanted: bool | None,
    detail: str = "pii_allowed=true sends buyer data unmasked; "
    "only a key with `pii:read` may set it.",
) -> None:
    if wanted and not principal.has("pii:read"):
        raise ProblemError(403, "insufficient-scope", "Insufficient scope", detail)


def _audit_pii_change(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: str,
    *,
    action: str,
    fields: list[str],
    via: str,
    reason: str | None,
) -> None:
    """Record who let an endpoint receive buyer data (or stopped it), in the transaction
    that makes the change: the grant cannot exist without its record."""
    record(
        session,
        principal.tenant_id,
        [
            Access(
                "api_key",
                principal.key_id,
                action,
                "webhook_endpoint",
                endpoint_id,
                fields,
                via,
                reason,
            )
        ],
    )


async def _check_shops(repo: ShopRepository, shop_ids: list[str] | None) -> None:
    for index, shop_id in enumerate(shop_ids or []):
        try:
            await repo.get(shop_id)
        except Exception as exc:
            detail = f"shop {shop_id} not found"
            raise ProblemError(
                422,
                "validation-error",
                "Validation error",
                f"The request is not valid: {detail}",
                errors=[FieldError(detail=detail, pointer=f"#/shop_ids/{index}", code="not_found")],
            ) from exc


@router.post(
    "/webhook-endpoints",
    response_model=WebhookEndpointCreated,
    status_code=201,
    summary="Create a webhook endpoint",
)
async def create_endpoint(
    body: WebhookEndpointCreate,
    response: Response,
    reason_header: RevealReasonHeader = None,
    principal: Principal = require("webhooks:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> WebhookEndpointCreated:
    """Events from now on are signed with the returned `secret` (Standard Webhooks) and
    POSTed to `url`. The secret is shown only in this answer (and on rotation).
    `pii_allowed: true` needs `pii:read` and is recorded in the audit (`grant`)."""
    _check_pii(principal, body.pii_allowed)
    reason = reveal_reason(reason_header)
    url = await _checked_url(body.url)
    secret = body.secret or generate_secret()
    async with db.transaction() as session:
        await _check_shops(ShopRepository(session, principal.tenant_id, box), body.shop_ids)
        row = await WebhookRepository(session, principal.tenant_id, box).create(
            url=url,
            secret=secret,
            description=body.description,
            event_types=body.event_types,
            shop_ids=body.shop_ids,
            enabled=body.enabled,
            pii_allowed=body.pii_allowed,
        )
        if row.pii_allowed:
            _audit_pii_change(
                session,
                principal,
                row.id,
                action=GRANT,
                fields=["pii_allowed"],
                via="POST /v1/webhook-endpoints",
                reason=reason,
            )
    response.headers["Location"] = f"/v1/webhook-endpoints/{row.id}"
    return WebhookEndpointCreated(**endpoint_fields(row), secret=secret)


@router.get(
    "/webhook-endpoints", response_model=Page[WebhookEndpointOut], summary="List webhook endpoints"
)
async def list_endpoints(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    principal: Principal = require("webhooks:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> Page[WebhookEndpointOut]:
    filters = {"r": "webhook-endpoints"}
    before = decode_cursor(cursor, filters)
    async with db.read() as session:
        rows = await WebhookRepository(session, principal.tenant_id, box).list(
            before_id=before, limit=limit + 1
        )
    data, next_cursor, has_more = page_of(
        rows,
        limit,
        filters,
        lambda r: WebhookEndpointOut(**endpoint_fields(r)),
    )
    return Page(data=data, next_cursor=next_cursor, has_more=has_more)


@router.get(
    "/webhook-endpoints/{endpoint_id}",
    response_model=WebhookEndpointDetail,
    summary="Get a webhook endpoint",
)
async def get_endpoint(
    endpoint_id: EndpointId,
    principal: Principal = require("webhooks:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> WebhookEndpointDetail:
    """With its delivery counts: `pending` is the backlog, `failed` the dead letters."""
    async with db.read() as session:
        repo = WebhookRepository(session, principal.tenant_id, box)
        row = await repo.get(endpoint_id)
        counts = await repo.counts(endpoint_id)
    return WebhookEndpointDetail(
        **endpoint_fields(row),
        deliveries=DeliveryCountsOut(
            pending=counts.pending, succeeded=counts.succeeded, failed=counts.failed
        ),
    )


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    response_model=WebhookEndpointOut,
    summary="Update a webhook endpoint",
)
async def update_endpoint(
    endpoint_id: EndpointId,
    body: WebhookEndpointUpdate,
    reason_header: RevealReasonHeader = None,
    principal: Principal = require("webhooks:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> WebhookEndpointOut:
    """Setting `pii_allowed: true`, or moving an endpoint that has it to another `url` (the
    buyer data then goes somewhere new), needs `pii:read`; both are recorded in the audit
    (`grant`), as is turning it off (`revoke`)."""
    _check_pii(principal, body.pii_allowed)
    reason = reveal_reason(reason_header)
    changes = body.model_dump(exclude_none=True)
    if body.url is not None:
        changes["url"] = await _checked_url(body.url)
    async with db.transaction() as session:
        await _check_shops(ShopRepository(session, principal.tenant_id, box), body.shop_ids)
        repo = WebhookRepository(session, principal.tenant_id, box)
        before = await repo.get(endpoint_id, for_update=True)
        was_allowed, old_url = before.pii_allowed, before.url
        moved = "url" in changes and changes["url"] != old_url
        if was_allowed and moved:
            _check_pii(
                principal,
                body.pii_allowed is not False,
                "This endpoint receives buyer data unmasked (pii_allowed); only a key with "
                "`pii:read` may change where it goes.",
            )
        row = await repo.update(endpoint_id, **changes)
        via = "PATCH /v1/webhook-endpoints/{endpoint_id}"
        if row.pii_allowed and (not was_allowed or moved):
            fields = ["pii_allowed", "url"] if moved else ["pii_allowed"]
            _audit_pii_change(
                session, principal, row.id, action=GRANT, fields=fields, via=via, reason=reason
            )
        elif was_allowed and not row.pii_allowed:
            _audit_pii_change(
                session,
                principal,
                row.id,
                action=REVOKE,
                fields=["pii_allowed"],
                via=via,
                reason=reason,
            )
    return WebhookEndpointOut(**endpoint_fields(row))


@router.delete(
    "/webhook-endpoints/{endpoint_id}", status_code=204, summary="Delete a webhook endpoint"
)
async def delete_endpoint(
    endpoint_id: EndpointId,
    principal: Principal = require("webhooks:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> Response:
    """Stops deliveries at once; its delivery history goes with it. Events stay in the feed."""
    async with db.transaction() as session:
        await WebhookRepository(session, principal.tenant_id, box).delete(endpoint_id)
    return Response(status_code=204)


@router.post(
    "/webhook-endpoints/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    summary="Rotate the signing secret",
)
async def rotate_secret(
    endpoint_id: EndpointId,
    body: SecretRotate,
    principal: Principal = require("webhooks:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> SecretRotated:
    """The new secret signs at once; the previous one also signs for `overlap_seconds`, so
    the receiver can switch without rejecting a single delivery."""
    secret = body.secret or generate_secret()
    async with db.transaction() as session:
        row = await WebhookRepository(session, principal.tenant_id, box).rotate_secret(
            endpoint_id, new_secret=secret, overlap=timedelta(seconds=body.overlap_seconds)
        )
    return SecretRotated(secret=secret, previous_secret_expires_at=row.previous_secret_expires_at)


@router.post(
    "/webhook-endpoints/{endpoint_id}/test",
    response_model=WebhookTestOut,
    summary="Send a test event now",
)
async def send_test_event(
    endpoint_id: EndpointId,
    principal: Principal = require("webhooks:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> WebhookTestOut:
    """Sends a signed `webhook.test` event synchronously and reports what the endpoint
    answered. It is not stored, retried, or put in the feed."""
    async with db.read() as session:
        row = await WebhookRepository(session, principal.tenant_id, box).get(endpoint_id)
    now = utcnow()
    event_id = new_id("evt")
    body = {
        "id": event_id,
        "type": "webhook.test",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "tenant_id": principal.tenant_id,
        "shop_id": None,
        "cursor": None,
        "data": {"endpoint_id": row.id, "message": "Test event from ShopBridge."},
    }
    async with WebhookClient(max_connections=1) as client:
        result = await post_signed(
            client,
            url=row.url,
            secrets=signing_secrets(box, row, now),
            message_id=event_id,
            body=encode(body),
            limit_seconds=TEST_TIMEOUT_SECONDS,
        )
    return WebhookTestOut(
        delivered=result.ok,
        event_id=event_id,
        status_code=result.status_code,
        error=result.error,
        duration_ms=result.duration_ms,
        response_excerpt=result.excerpt,
    )


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    response_model=Page[DeliveryOut],
    summary="Deliveries of an endpoint (failed = dead letters)",
)
async def list_deliveries(
    endpoint_id: EndpointId,
    state: Annotated[str | None, Query(pattern=r"^(pending|succeeded|failed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    principal: Principal = require("webhooks:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> Page[DeliveryOut]:
    """Newest first, with the last response and reason of each."""
    filters = {"r": "deliveries", "endpoint": endpoint_id, "state": state}
    before = decode_cursor(cursor, filters)
    async with db.read() as session:
        pairs = await WebhookRepository(session, principal.tenant_id, box).deliveries(
            endpoint_id, state=state, before_id=before, limit=limit + 1
        )
    types = {d.id: t for d, t in pairs}
    data, next_cursor, has_more = page_of(
        [d for d, _ in pairs], limit, filters, lambda d: delivery_out(d, types[d.id])
    )
    return Page(data=data, next_cursor=next_cursor, has_more=has_more)
