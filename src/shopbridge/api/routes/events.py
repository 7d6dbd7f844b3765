"""The event feed (the pull door for ERPs that cannot receive webhooks) and replay."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from shopbridge.api.deps import get_box, get_db, get_settings
from shopbridge.api.problems import V1_ERRORS, FieldError, ProblemError, problem_responses
from shopbridge.api.reveal import RevealReasonHeader, audit_event_reveal
from shopbridge.api.security import Principal, require
from shopbridge.api.validation import ID_PATTERN
from shopbridge.api.webhook_schemas import (
    EventFeed,
    EventOut,
    EventTypeOut,
    ReplayOut,
    ReplayRequest,
)
from shopbridge.config import Settings
from shopbridge.core.events import EVENT_TYPES
from shopbridge.delivery.envelope import event_body
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.events import (
    CursorAhead,
    CursorExpired,
    get_event,
    read_feed,
    sequence_committed,
)
from shopbridge.storage.vault import fresh_vault
from shopbridge.storage.webhooks import WebhookRepository

router = APIRouter(responses=V1_ERRORS, tags=["events"])
MAX_WAIT_SECONDS = 60
POLL_SECONDS = 0.2


def _cursor(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdigit() or len(after) > 18:
        detail = "The cursor is not one this API issued."
        raise ProblemError(
            400,
            "invalid-cursor",
            "Invalid cursor",
            detail,
            errors=[FieldError(detail=detail, parameter="after", code="invalid_cursor")],
        )
    return int(after)


@router.get("/event-types", response_model=list[EventTypeOut], summary="Event types")
async def event_types(_: Principal = require("events:read")) -> list[EventTypeOut]:
    return [EventTypeOut(name=k, description=v) for k, v in EVENT_TYPES.items()]


@router.get(
    "/events",
    response_model=EventFeed,
    summary="Event feed (cursor, long-poll)",
    responses=problem_responses(410),
)
async def feed(
    after: Annotated[
        str | None,
        Query(
            max_length=32,
            description="`next_cursor` of the previous page; omit to start "
            "at the oldest retained event.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    types: Annotated[
        list[str] | None, Query(description="Only these event types; repeat for several.")
    ] = None,
    shop: Annotated[str | None, Query(pattern=ID_PATTERN, description="Only this shop.")] = None,
    wait: Annotated[
        int,
        Query(ge=0, le=MAX_WAIT_SECONDS, description="Long-poll: seconds to wait for an event."),
    ] = 0,
    reveal_reason: RevealReasonHeader = None,
    principal: Principal = require("events:read"),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> EventFeed:
    """Events of the caller's tenant in the order they were committed. Keep `next_cursor`
    after processing a page and pass it as `after`: the feed never skips or reorders an
    event. Buyer data is masked unless the key has `pii:read`; each event whose order is
    returned unmasked is recorded in the audit (`GET /v1/audit`)."""
    position = _cursor(after)
    for index, name in enumerate(types or []):
        if name not in EVENT_TYPES:
            detail = f"unknown event type {name!r}; see GET /v1/event-types"
            raise ProblemError(
                422,
                "validation-error",
                "Validation error",
                f"The request is not valid: {detail}",
                errors=[FieldError(detail=detail, parameter="types", code=f"unknown_type_{index}")],
            )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait, settings.feed_max_wait_seconds)
    while True:
        await sequence_committed(db)
        try:
            async with db.read() as session:
                page = await read_feed(
                    session,
                    principal.tenant_id,
                    after=position,
                    limit=limit,
                    types=types or (),
                    shop_id=shop,
                )
        except CursorExpired as exc:
            raise ProblemError(
                410,
                "cursor-expired",
                "Cursor expired",
                f"Events before cursor {exc.oldest_cursor} were removed by retention. Re-read "
                "orders with GET /v1/orders?updated_after=… and restart the feed without `after`.",
            ) from exc
        except CursorAhead as exc:
            raise ProblemError(
                400,
                "invalid-cursor",
                "Invalid cursor",
                str(exc),
                errors=[FieldError(detail=str(exc), parameter="after", code="invalid_cursor")],
            ) from exc
        remaining = deadline - loop.time()
        if page.events or remaining <= 0:
            break
        await asyncio.sleep(min(POLL_SECONDS, remaining))
    reveal = principal.has("pii:read")
    vault = await fresh_vault(db)
    bodies = [event_body(row, reveal=reveal, vault=vault) for row in page.events]
    await audit_event_reveal(
        db, principal, bodies, revealed=reveal, via="GET /v1/events", reason_header=reveal_reason
    )
    return EventFeed(
        data=[EventOut(**body) for body in bodies],
        next_cursor=str(page.next_cursor),
        has_more=page.has_more,
    )


@router.get("/events/{event_id}", response_model=EventOut, summary="Get an event")
async def get_one(
    event_id: Annotated[str, Path(pattern=ID_PATTERN)],
    reveal_reason: RevealReasonHeader = None,
    principal: Principal = require("events:read"),
    db: Database = Depends(get_db),
) -> EventOut:
    async with db.read() as session:
        row = await get_event(session, principal.tenant_id, event_id)
    if row is None:
        raise ProblemError(404, "not-found", "Not found", f"event {event_id} not found")
    vault = await fresh_vault(db)
    reveal = principal.has("pii:read")
    body = event_body(row, reveal=reveal, vault=vault)
    await audit_event_reveal(
        db,
        principal,
        [body],
        revealed=reveal,
        via="GET /v1/events/{event_id}",
        reason_header=reveal_reason,
    )
    return EventOut(**body)


@router.post("/events/replay", response_model=ReplayOut, status_code=202, summary="Replay events")
async def replay(
    body: ReplayRequest,
    principal: Principal = require("webhooks:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> ReplayOut:
    """Queue events for delivery again, with their original ids (receivers deduplicate):
    one event (to every endpoint, or one), every dead letter of an endpoint, or everything
    of a shop since a time. Per-order order still holds among what is pending."""
    await sequence_committed(db)
    async with db.transaction() as session:
        repo = WebhookRepository(session, principal.tenant_id, box)
        if body.event_id is not None:
            scheduled = await repo.replay_event(body.event_id, endpoint_id=body.endpoint_id)
        elif body.state == "failed":
            assert body.endpoint_id is not None
            scheduled = await repo.replay_failed(body.endpoint_id)
        else:
            assert body.shop_id is not None
            assert body.since is not None
            scheduled = await repo.replay_since(
                shop_id=body.shop_id,
                since=body.since,
                until=body.until,
                endpoint_id=body.endpoint_id,
            )
    return ReplayOut(scheduled=scheduled)
