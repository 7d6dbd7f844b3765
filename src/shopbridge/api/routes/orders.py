"""Orders: list with filters and cursor pagination, get by id or by platform order id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from shopbridge.api.deps import get_box, get_db
from shopbridge.api.pagination import decode_cursor, page_of
from shopbridge.api.problems import V1_ERRORS, FieldError, ProblemError
from shopbridge.api.schemas import OrderOut, Page
from shopbridge.api.security import Principal, require
from shopbridge.api.validation import ID_PATTERN, IsoDatetime, Text
from shopbridge.core import OrderStatus
from shopbridge.core.time import to_utc
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import OrderRow

router = APIRouter(responses=V1_ERRORS, tags=["orders"])
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
IncludeRaw = Annotated[
    bool,
    Query(description="Include the untouched platform payload (needs the `pii:read` scope)."),
]


def order_body(row: OrderRow, *, reveal: bool, include_raw: bool) -> dict[str, object]:
    doc = {**row.document, "id": row.id, "raw": row.raw if include_raw else None}
    out = OrderOut.model_validate(
        {**doc, "version": row.version, "created_at": row.created_at, "updated_at": row.updated_at}
    )
    body: dict[str, object] = out.model_dump(mode="json", context={"mask_pii": not reveal})
    if not include_raw:
        body.pop("raw", None)
    return body


def _raw_allowed(principal: Principal, include_raw: bool) -> bool:
    if include_raw and not principal.has("pii:read"):
        raise ProblemError(
            403,
            "insufficient-scope",
            "Insufficient scope",
            "include_raw=true returns buyer data as the platform sent it; it needs `pii:read`.",
        )
    return include_raw


@router.get("/orders", response_model=Page[OrderOut], summary="List orders")
async def list_orders(
    shop_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    platform: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{1,31}$")] = None,
    status: Annotated[
        list[OrderStatus] | None, Query(description="Unified status; repeat for several.")
    ] = None,
    updated_after: Annotated[
        IsoDatetime | None,
        Query(description="Only orders ShopBridge changed after this time (ISO 8601 with offset)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    include_raw: IncludeRaw = False,
    principal: Principal = require("orders:read"),
    db: Database = Depends(get_db),
) -> JSONResponse:
    """Newest first. Buyer fields are masked unless the key holds `pii:read`."""
    include_raw = _raw_allowed(principal, include_raw)
    after_utc = None
    if updated_after is not None:
        try:
            after_utc = to_utc(updated_after)
        except (OverflowError, ValueError) as exc:
            raise ProblemError(
                422,
                "validation-error",
                "Validation error",
                "updated_after is out of range.",
                errors=[FieldError(detail="out of range", parameter="updated_after", code="range")],
            ) from exc
    statuses = sorted({s.value for s in status or []})
    filters = {
        "r": "orders",
        "shop_id": shop_id,
        "platform": platform,
        "status": statuses,
        "updated_after": after_utc.isoformat() if after_utc else None,
    }
    before = decode_cursor(cursor, filters)
    async with db.read() as session:
        rows = await OrderRepository(session, principal.tenant_id).list(
            shop_id=shop_id,
            platform=platform,
            statuses=statuses,
            updated_after=after_utc,
            before_id=before,
            limit=limit + 1,
        )
    reveal = principal.has("pii:read")
    data, next_cursor, has_more = page_of(
        rows, limit, filters, lambda r: order_body(r, reveal=reveal, include_raw=include_raw)
    )
    return JSONResponse({"data": data, "next_cursor": next_cursor, "has_more": has_more})


@router.get("/orders/{order_id}", response_model=OrderOut, summary="Get an order")
async def get_order(
    order_id: IdPath,
    include_raw: IncludeRaw = False,
    principal: Principal = require("orders:read"),
    db: Database = Depends(get_db),
) -> JSONResponse:
    include_raw = _raw_allowed(principal, include_raw)
    async with db.read() as session:
        row = await OrderRepository(session, principal.tenant_id).get(order_id)
    return JSONResponse(order_body(row, reveal=principal.has("pii:read"), include_raw=include_raw))


@router.get(
    "/shops/{shop_id}/orders/{platform_order_id}",
    response_model=OrderOut,
    summary="Get an order by its platform order id",
)
async def get_order_by_platform_id(
    shop_id: IdPath,
    platform_order_id: Annotated[Text, Path(min_length=1, max_length=255)],
    include_raw: IncludeRaw = False,
    principal: Principal = require("orders:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> JSONResponse:
    include_raw = _raw_allowed(principal, include_raw)
    async with db.read() as session:
        await ShopRepository(session, principal.tenant_id, box).get(shop_id)
        row = await OrderRepository(session, principal.tenant_id).get_by_platform_id(
            shop_id, platform_order_id
        )
    return JSONResponse(order_body(row, reveal=principal.has("pii:read"), include_raw=include_raw))
