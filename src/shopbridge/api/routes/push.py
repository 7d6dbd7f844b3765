"""Inbound platform pushes (webhooks). Authenticated by the platform's signature, not by an
API key: the platform cannot hold one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from shopbridge.api.deps import get_box, get_db, get_settings
from shopbridge.api.problems import ProblemError, problem_responses
from shopbridge.api.validation import ID_PATTERN
from shopbridge.config import Settings
from shopbridge.connectors import PushRejected
from shopbridge.connectors.registry import UnknownConnector
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.sync.push import load_push_shop, receive_push

router = APIRouter(tags=["push"], responses=problem_responses(401, 404, 413, 422))
MAX_PUSH_BYTES = 2 * 1024 * 1024


@router.post(
    "/push/{platform}/{shop_id}",
    summary="Receive a platform push (webhook)",
    response_model=dict[str, int | bool],
)
async def push(
    request: Request,
    platform: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{1,31}$")],
    shop_id: Annotated[str, Path(pattern=ID_PATTERN)],
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
    settings: Settings = Depends(get_settings),
) -> JSONResponse:
    """Point the platform's webhooks here (e.g. Shopify `orders/*`). The signature is checked
    with the shop's app secret; duplicates are acknowledged and ignored."""
    shop = await load_push_shop(db, platform, shop_id)
    body = await request.body()
    if len(body) > MAX_PUSH_BYTES:
        raise ProblemError(413, "payload-too-large", "Payload too large", "Push body too large.")
    try:
        outcome = await receive_push(
            db, box, shop, request.headers, body, max_age_seconds=settings.push_max_age_seconds
        )
    except UnknownConnector as exc:
        raise ProblemError(
            404, "not-found", "Not found", f"no connector installed for {platform}"
        ) from exc
    except PushRejected as exc:
        raise ProblemError(
            401, "push-rejected", "Push rejected", f"The push did not verify: {exc.message}"
        ) from exc
    return JSONResponse(
        {
            "accepted": outcome.accepted,
            "duplicates": outcome.duplicates,
            "pull_requested": outcome.pull_requested,
        }
    )
