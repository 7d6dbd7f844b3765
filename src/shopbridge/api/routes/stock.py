"""Stock: the ERP states on-hand quantities and adjustments; ShopBridge reserves for orders,
allocates to listings and pushes; listings and their SKU mapping."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select

from shopbridge.api.deps import get_box, get_db
from shopbridge.api.pagination import decode_cursor, encode_cursor, page_of
from shopbridge.api.problems import V1_ERRORS, FieldError, ProblemError, problem_responses
from shopbridge.api.schemas import Page
from shopbridge.api.security import Principal, require
from shopbridge.api.stock_schemas import (
    AdjustmentsIn,
    LedgerOut,
    ListingOut,
    ListingSyncOut,
    MappingIn,
    ReservationOut,
    RulesIn,
    StockDetail,
    StockOut,
    StockSetIn,
    StockSetOut,
    StockSetResult,
    WarehouseOut,
)
from shopbridge.api.validation import ID_PATTERN, Text
from shopbridge.connectors import AuthExpired, ConnectorError
from shopbridge.connectors.registry import UnknownConnector
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.errors import NotFound
from shopbridge.storage.inventory import (
    Adjustment,
    Component,
    InsufficientStock,
    Inventory,
    StockSet,
    TooMuchStock,
    available,
)
from shopbridge.storage.listings import ListingRepository
from shopbridge.storage.shops import ShopRepository
from shopbridge.storage.tables import (
    ListingComponentRow,
    ListingRow,
    SkuRow,
    StockItemRow,
    StockLedgerRow,
    StockReservationRow,
)
from shopbridge.sync.stock import sync_listings

router = APIRouter(responses=V1_ERRORS, tags=["stock"])
SkuPath = Annotated[str, Path(min_length=1, max_length=255)]
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]


def stock_out(row: SkuRow) -> StockOut:
    return StockOut(
        sku=row.sku,
        on_hand=row.on_hand,
        reserved=row.reserved,
        safety_stock=row.safety_stock,
        available=available(row),
        allocation=row.allocation,
        low_stock_threshold=row.low_stock_threshold,
        shop_caps=row.shop_caps or {},
        tracked=row.tracked,
        updated_at=row.updated_at,
    )


def listing_out(row: ListingRow) -> ListingOut:
    return ListingOut(
        id=row.id,
        shop_id=row.shop_id,
        platform_listing_id=row.platform_listing_id,
        platform_sku_id=row.platform_sku_id or None,
        platform_variant_id=row.platform_variant_id,
        merchant_sku=row.merchant_sku,
        title=row.title,
        mapping=row.mapping,
        components=list(row.components),
        platform_quantity=row.platform_quantity,
        target_quantity=row.target_quantity,
        pushed_quantity=row.pushed_quantity,
        pushed_at=row.pushed_at,
        push_state=row.push_state,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        updated_at=row.updated_at,
    )


def _too_much(exc: TooMuchStock) -> ProblemError:
    return ProblemError(
        422,
        "validation-error",
        "Validation error",
        f"The request is not valid: {exc}",
        errors=[FieldError(detail=str(exc), code="too_much_stock")],
    )


def _actor(principal: Principal) -> str:
    return f"api-key:{principal.key_id}"


@router.put("/stock", response_model=StockSetOut, summary="Set on-hand stock (absolute)")
async def set_stock(
    body: StockSetIn,
    principal: Principal = require("stock:write"),
    db: Database = Depends(get_db),
) -> StockSetOut:
    """Absolute on-hand quantities per SKU and warehouse. Each item carries your `version`
    (or `as_of` time): an item not newer than what is stored is reported `applied: false`
    and changes nothing, so a late retry never rolls stock back. Listings are recomputed and
    pushed to the platforms right after."""
    try:
        async with db.transaction() as session:
            outcomes = await Inventory(
                session, principal.tenant_id, actor=_actor(principal)
            ).set_stock(StockSet(i.sku, i.on_hand, i.ordering, i.warehouse) for i in body.items)
    except TooMuchStock as exc:
        raise _too_much(exc) from exc
    return StockSetOut(
        results=[
            StockSetResult(
                sku=o.sku,
                warehouse=o.warehouse,
                applied=o.applied,
                on_hand=o.on_hand,
                reason=o.reason,
            )
            for o in outcomes
        ]
    )


@router.post("/stock/adjustments", response_model=list[StockOut], summary="Adjust stock (deltas)")
async def adjust_stock(
    body: AdjustmentsIn,
    principal: Principal = require("stock:write"),
    db: Database = Depends(get_db),
) -> list[StockOut]:
    """Relative changes with a reason, all or nothing: one that would take a warehouse below
    zero refuses the batch (409 `insufficient-stock`)."""
    try:
        async with db.transaction() as session:
            inventory = Inventory(session, principal.tenant_id, actor=_actor(principal))
            await inventory.adjust(
                Adjustment(a.sku, a.delta, a.reason, a.warehouse, a.reference)
                for a in body.adjustments
            )
            skus = sorted({a.sku for a in body.adjustments})
            return [stock_out(await inventory.sku(s)) for s in skus]
    except InsufficientStock as exc:
        raise ProblemError(409, "insufficient-stock", "Insufficient stock", str(exc)) from exc
    except TooMuchStock as exc:
        raise _too_much(exc) from exc


@router.get("/stock", response_model=Page[StockOut], summary="List SKUs")
async def list_stock(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
    principal: Principal = require("stock:read"),
    db: Database = Depends(get_db),
) -> Page[StockOut]:
    filters = {"r": "stock"}
    after = decode_cursor(cursor, filters)
    stmt = select(SkuRow).where(SkuRow.tenant_id == principal.tenant_id)
    if after is not None:
        stmt = stmt.where(SkuRow.sku > after)
    async with db.read() as session:
        rows = (await session.scalars(stmt.order_by(SkuRow.sku).limit(limit + 1))).all()
    has_more = len(rows) > limit
    shown = rows[:limit]
    return Page(
        data=[stock_out(r) for r in shown],
        next_cursor=encode_cursor(shown[-1].sku, filters) if has_more else None,
        has_more=has_more,
    )


@router.get("/stock/{sku:path}", response_model=StockDetail, summary="Stock of one SKU")
async def get_stock(
    sku: SkuPath,
    principal: Principal = require("stock:read"),
    db: Database = Depends(get_db),
) -> StockDetail:
    """ATP, open reservations, every listing it feeds with the value last pushed (and why a
    push failed), and the newest ledger entries that explain the numbers."""
    tenant = principal.tenant_id
    async with db.read() as session:
        row = await session.get(SkuRow, (tenant, sku))
        if row is None:
            raise NotFound(f"SKU {sku!r} not found")
        warehouses = (
            await session.scalars(
                select(StockItemRow)
                .where(StockItemRow.tenant_id == tenant, StockItemRow.sku == sku)
                .order_by(StockItemRow.warehouse)
            )
        ).all()
        reservations = (
            await session.scalars(
                select(StockReservationRow)
                .where(
                    StockReservationRow.tenant_id == tenant,
                    StockReservationRow.sku == sku,
                    StockReservationRow.state == "reserved",
                )
                .order_by(StockReservationRow.id.desc())
                .limit(100)
            )
        ).all()
        listings = (
            await session.scalars(
                select(ListingRow)
                .join(ListingComponentRow, ListingComponentRow.listing_id == ListingRow.id)
                .where(ListingComponentRow.tenant_id == tenant, ListingComponentRow.sku == sku)
                .order_by(ListingRow.id)
            )
        ).all()
        ledger = (
            await session.scalars(
                select(StockLedgerRow)
                .where(StockLedgerRow.tenant_id == tenant, StockLedgerRow.sku == sku)
                .order_by(StockLedgerRow.id.desc())
                .limit(50)
            )
        ).all()
    return StockDetail(
        **stock_out(row).model_dump(),
        warehouses=[
            WarehouseOut(
                warehouse=w.warehouse,
                on_hand=w.on_hand,
                version=w.source_version,
                updated_at=w.updated_at,
            )
            for w in warehouses
        ],
        reservations=[
            ReservationOut(
                order_id=r.order_id,
                shop_id=r.shop_id,
                line_no=r.line_no,
                quantity=r.quantity,
                state=r.state,
                updated_at=r.updated_at,
            )
            for r in reservations
        ],
        listings=[listing_out(lst) for lst in listings],
        ledger=[
            LedgerOut(
                at=e.at,
                kind=e.kind,
                actor=e.actor,
                reason=e.reason,
                reference=e.reference,
                warehouse=e.warehouse,
                on_hand_before=e.on_hand_before,
                on_hand_after=e.on_hand_after,
                reserved_before=e.reserved_before,
                reserved_after=e.reserved_after,
            )
            for e in ledger
        ],
    )


@router.put("/stock-rules/{sku:path}", response_model=StockOut, summary="Allocation rules of a SKU")
async def set_rules(
    sku: SkuPath,
    body: RulesIn,
    principal: Principal = require("stock:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> StockOut:
    """Safety stock, low-stock threshold, shared or split allocation, and per-shop caps
    (percent of ATP or a fixed number). Fields left out keep their value."""
    rules = body.model_dump(exclude_unset=True)
    if "shop_caps" in rules and rules["shop_caps"] is not None:
        async with db.read() as session:
            shops = ShopRepository(session, principal.tenant_id, box)
            for shop_id in rules["shop_caps"]:
                await shops.get(shop_id)
        rules["shop_caps"] = {
            shop: {k: v for k, v in cap.items() if v is not None}
            for shop, cap in rules["shop_caps"].items()
        }
    async with db.transaction() as session:
        row = await Inventory(session, principal.tenant_id, actor=_actor(principal)).set_rules(
            sku, **{k: v for k, v in rules.items() if v is not None or k == "low_stock_threshold"}
        )
        return stock_out(row)


@router.get("/listings", response_model=Page[ListingOut], summary="List platform listings")
async def list_listings(
    shop_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    mapping: Annotated[str | None, Query(pattern=r"^(auto|manual|unmapped)$")] = None,
    sku: Annotated[Text | None, Query(min_length=1, max_length=255)] = None,
    push_state: Annotated[str | None, Query(pattern=r"^(idle|pending|failed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    principal: Principal = require("stock:read"),
    db: Database = Depends(get_db),
) -> Page[ListingOut]:
    """`mapping=unmapped` lists what cannot receive stock yet; `push_state=failed` what the
    platforms refused, with the reason."""
    filters = {"r": "listings", "shop": shop_id, "m": mapping, "sku": sku, "p": push_state}
    before = decode_cursor(cursor, filters)
    async with db.read() as session:
        rows = await ListingRepository(session, principal.tenant_id).list(
            shop_id=shop_id,
            mapping=mapping,
            sku=sku,
            push_state=push_state,
            before_id=before,
            limit=limit + 1,
        )
    data, next_cursor, has_more = page_of(rows, limit, filters, listing_out)
    return Page(data=data, next_cursor=next_cursor, has_more=has_more)


@router.get("/listings/{listing_id}", response_model=ListingOut, summary="Get a listing")
async def get_listing(
    listing_id: IdPath,
    principal: Principal = require("stock:read"),
    db: Database = Depends(get_db),
) -> ListingOut:
    async with db.read() as session:
        return listing_out(await ListingRepository(session, principal.tenant_id).get(listing_id))


@router.put(
    "/listings/{listing_id}/mapping", response_model=ListingOut, summary="Map a listing to SKUs"
)
async def map_listing(
    listing_id: IdPath,
    body: MappingIn,
    principal: Principal = require("stock:write"),
    db: Database = Depends(get_db),
) -> ListingOut:
    """Override the automatic mapping (merchant SKU code) by hand; several components make a
    bundle, whose quantity is what the scarcest component allows."""
    components = (
        None if body.components is None else [Component(c.sku, c.quantity) for c in body.components]
    )
    async with db.transaction() as session:
        row = await ListingRepository(
            session, principal.tenant_id, actor=_actor(principal)
        ).set_mapping(listing_id, components)
        return listing_out(row)


@router.post(
    "/shops/{shop_id}/listings/sync",
    response_model=ListingSyncOut,
    summary="Refresh a shop's listings now",
    responses=problem_responses(424),
)
async def refresh_listings(
    shop_id: IdPath,
    principal: Principal = require("stock:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> ListingSyncOut:
    """Pulls the shop's listings from the platform (also done every 15 minutes by the
    worker) and maps new ones by their merchant SKU code."""
    async with db.read() as session:
        shop = await ShopRepository(session, principal.tenant_id, box).get(shop_id)
    try:
        result = await sync_listings(db, box, shop)
    except (NotImplementedError, UnknownConnector) as exc:
        raise ProblemError(409, "not-supported", "Not supported", str(exc)) from exc
    except AuthExpired as exc:
        raise ProblemError(
            409,
            "shop-needs-authorisation",
            "Shop needs authorisation",
            f"{shop.platform} refused the shop's credentials ({exc}); update them with "
            "PATCH /v1/shops/{id}.",
        ) from exc
    except ConnectorError as exc:
        # 424, not 5xx: ShopBridge is fine, the platform it depends on failed or refused.
        raise ProblemError(
            424, "platform-error", "Platform error", f"{shop.platform}: {exc}; retry later"
        ) from exc
    return ListingSyncOut(created=result.created, updated=result.updated, unmapped=result.unmapped)
