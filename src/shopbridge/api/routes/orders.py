"""Orders: list with filters and cursor pagination, get by id or by platform order id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from shopbridge.api.deps import get_box, get_db
from shopbridge.api.pagination import decode_cursor, page_of, utc_filter
from shopbridge.api.problems import V1_ERRORS, ProblemError
from shopbridge.api.reveal import RevealReasonHeader, audit_order_reveal
from shopbridge.api.schemas import OrderOut, OrderSearch, Page
from shopbridge.api.security import Principal, require
from shopbridge.api.validation import ID_PATTERN, IsoDatetime, Text
from shopbridge.core import OrderStatus
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.orders import OrderRepository, ReadableOrder, open_rows
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.vault import vault_of

router = APIRouter(responses=V1_ERRORS, tags=["orders"])
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
IncludeRaw = Annotated[
    bool,
    Query(description="Include the untouched platform payload (needs the `pii:read` scope)."),
]


def order_body(row: ReadableOrder, *, reveal: bool, include_raw: bool) -> dict[str, object]:
    doc = {**row.document, "id": row.id, "raw": row.raw if include_raw else None}
    out = OrderOut.model_validate(
        {
            **doc,
            "version": row.version,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "buyer_data": row.buyer_data,
        }
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
    reveal_reason: RevealReasonHeader = None,
    principal: Principal = require("orders:read"),
    db: Database = Depends(get_db),
) -> JSONResponse:
    """Newest first. Buyer fields are masked unless the key holds `pii:read`."""
    include_raw = _raw_allowed(principal, include_raw)
    after_utc = utc_filter(updated_after, "updated_after")
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
        rows = await open_rows(
            session,
            await OrderRepository(session, principal.tenant_id).list(
                shop_id=shop_id,
                platform=platform,
                statuses=statuses,
                updated_after=after_utc,
                before_id=before,
                limit=limit + 1,
            ),
        )
    reveal = principal.has("pii:read")
    data, next_cursor, has_more = page_of(
        rows, limit, filters, lambda r: order_body(r, reveal=reveal, include_raw=include_raw)
    )
    await audit_order_reveal(
        db, principal, data, revealed=reveal, via="GET /v1/orders", reason_header=reveal_reason
    )
    return JSONResponse({"data": data, "next_cursor": next_cursor, "has_more": has_more})


@router.get("/orders/{order_id}", response_model=OrderOut, summary="Get an order")
async def get_order(
    order_id: IdPath,
    include_raw: IncludeRaw = False,
    reveal_reason: RevealReasonHeader = None,
    principal: Principal = require("orders:read"),
    db: Database = Depends(get_db),
) -> JSONResponse:
    include_raw = _raw_allowed(principal, include_raw)
    async with db.read() as session:
        (row,) = await open_rows(
            session, [await OrderRepository(session, principal.tenant_id).get(order_id)]
        )
    reveal = principal.has("pii:read")
    body = order_body(row, reveal=reveal, include_raw=include_raw)
    await audit_order_reveal(
        db,
        principal,
        [body],
        revealed=reveal,
        via="GET /v1/orders/{order_id}",
        reason_header=reveal_reason,
    )
    return JSONResponse(body)


@router.get(
    "/shops/{shop_id}/orders/{platform_order_id}",
    response_model=OrderOut,
    summary="Get an order by its platform order id",
)
async def get_order_by_platform_id(
    shop_id: IdPath,
    platform_order_id: Annotated[Text, Path(min_length=1, max_length=255)],
    include_raw: IncludeRaw = False,
    reveal_reason: RevealReasonHeader = None,
    principal: Principal = require("orders:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> JSONResponse:
    include_raw = _raw_allowed(principal, include_raw)
    async with db.read() as session:
        await ShopRepository(session, principal.tenant_id, box).get(shop_id)
        (row,) = await open_rows(
            session,
            [
                await OrderRepository(session, principal.tenant_id).get_by_platform_id(
                    shop_id, platform_order_id
                )
            ],
        )
    reveal = principal.has("pii:read")
    body = order_body(row, reveal=reveal, include_raw=include_raw)
    await audit_order_reveal(
        db,
        principal,
        [body],
        revealed=reveal,
        via="GET /v1/shops/{shop_id}/orders/{platform_order_id}",
        reason_header=reveal_reason,
    )
    return JSONResponse(body)


@router.post("/orders/search", response_model=Page[OrderOut], summary="Search orders")
async def search_orders(
    body: OrderSearch,
    reveal_reason: RevealReasonHeader = None,
    principal: Principal = require("orders:read"),
    db: Database = Depends(get_db),
) -> JSONResponse:
    """Exact match on a buyer's or receiver's phone (any format: `+86 138-1234-5678`), name
    (case and spacing ignored) or e-mail, by keyed hash. Newest first; masked like the list
    unless the key holds `pii:read`. A POST so the values never appear in a URL."""
    criteria = [
        (field, value)
        for field, value in (("phone", body.phone), ("name", body.name), ("email", body.email))
        if value
    ]
    async with db.read() as session:
        vault = vault_of(session)
        # The cursor fingerprint covers the hashes, never the plaintext.
        filters = {
            "r": "orders/search",
            "shop_id": body.shop_id,
            "q": [(f, vault.search_digest(principal.tenant_id, f, v)) for f, v in criteria],
        }
        before = decode_cursor(body.cursor, filters)
        rows = await OrderRepository(session, principal.tenant_id).search(
            criteria, shop_id=body.shop_id, before_id=before, limit=body.limit + 1
        )
        readable = await open_rows(session, rows)
    reveal = principal.has("pii:read")
    data, next_cursor, has_more = page_of(
        readable, body.limit, filters, lambda r: order_body(r, reveal=reveal, include_raw=False)
    )
    await audit_order_reveal(
        db,
        principal,
        data,
        revealed=reveal,
        via="POST /v1/orders/search",
        reason_header=reveal_reason,
    )
    return JSONResponse({"data": data, "next_cursor": next_cursor, "has_more": has_more})
