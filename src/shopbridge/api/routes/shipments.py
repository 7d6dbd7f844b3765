"""Shipments: the ERP/WMS reports a parcel, ShopBridge confirms it on the order's platform;
carrier tracking; the unified carrier table.

`POST /v1/orders/{id}/shipments` records the shipment and commits it *before* calling the
platform (a crash mid-call leaves a pending shipment for the worker), then makes one attempt
bounded by a timeout and answers with its outcome: `confirmed`, `rejected` with the
platform's reason, or `pending` with the reason and when the worker tries again. Posting the
same (order, carrier, tracking number) again answers 200 with the shipment already recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from shopbridge.api.deps import get_box, get_db
from shopbridge.api.pagination import decode_cursor, page_of
from shopbridge.api.problems import V1_ERRORS, FieldError, ProblemError
from shopbridge.api.schemas import Page
from shopbridge.api.security import Principal, authenticate, require
from shopbridge.api.shipment_schemas import (
    CarrierList,
    CarrierOut,
    ShipmentCreate,
    ShipmentDetail,
    ShipmentLineIn,
    ShipmentOut,
    TrackingUpdate,
    TrackingUpdateOut,
)
from shopbridge.api.validation import ID_PATTERN
from shopbridge.connectors.registry import installed_platforms
from shopbridge.core.carriers import ALIASES, CARRIERS, OTHER, normalize_carrier_code
from shopbridge.core.time import to_utc
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.shipments import (
    Claim,
    LineQuantity,
    NewTrackingEvent,
    ShipmentRepository,
    shipment_document,
    tracking_event_document,
    unshipped_quantities,
)
from shopbridge.storage.shops import DISCONNECTED
from shopbridge.storage.tables import OrderRow, ShipmentRow, ShopRow
from shopbridge.sync.shipments import (
    ShipmentConfirmer,
    ShipmentSettings,
    carrier_support,
    confirms_shipments,
)

router = APIRouter(responses=V1_ERRORS, tags=["shipments"])
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]

NOT_SHIPPABLE_STATUSES = frozenset({"cancelled", "closed"})
"""Orders our data shows as ended: nothing may ship (the platform would refuse anyway)."""


def get_shipment_settings(request: Request) -> ShipmentSettings:
    """`app.state.shipment_settings` when the app sets one (tests, operators), else defaults."""
    settings = getattr(request.app.state, "shipment_settings", None)
    return settings if isinstance(settings, ShipmentSettings) else ShipmentSettings()


def shipment_body(row: ShipmentRow, order: OrderRow) -> dict[str, Any]:
    out = ShipmentOut.model_validate(shipment_document(row, order))
    body: dict[str, Any] = out.model_dump(mode="json")
    return body


async def detail_body(repo: ShipmentRepository, row: ShipmentRow) -> dict[str, Any]:
    order = await repo.order_of(row)
    events = await repo.tracking_events(row.id)
    out = ShipmentDetail.model_validate(
        {
            **shipment_document(row, order),
            "tracking_events": [tracking_event_document(e) for e in events],
        }
    )
    body: dict[str, Any] = out.model_dump(mode="json")
    return body


# --- carriers ---------------------------------------------------------------------------------


@router.get("/carriers", response_model=CarrierList, summary="The unified carrier table")
async def list_carriers(_: Principal = Depends(authenticate)) -> CarrierList:
    """Every unified carrier code with its names, tracking page, and whether each installed
    platform accepts it (as its connector declares)."""
    platforms = {p: carrier_support(p) for p in installed_platforms()}
    aliases: dict[str, list[str]] = {}
    for alias, code in ALIASES.items():
        aliases.setdefault(code, []).append(alias)
    return CarrierList(
        data=[
            CarrierOut(
                code=c.code,
                name=c.name,
                local_name=c.local_name,
                aliases=sorted(aliases.get(c.code, [])),
                tracking_url_template=c.tracking_url_template,
                platforms={
                    p: (c.code in support.supported if support is not None else None)
                    for p, support in platforms.items()
                },
            )
            for c in CARRIERS.values()
        ]
    )


# --- shipments --------------------------------------------------------------------------------


def _unknown_carrier(code: str) -> ProblemError:
    valid = ", ".join(CARRIERS)
    detail = f"Unknown carrier code {code[:64]!r}. Valid codes: {valid} (see GET /v1/carriers)."
    return ProblemError(
        422,
        "unknown-carrier",
        "Unknown carrier",
        detail,
        errors=[FieldError(detail=detail, pointer="#/carrier_code", code="unknown_carrier")],
    )


def _not_shippable(detail: str, code: str) -> ProblemError:
    return ProblemError(
        409,
        "order-not-shippable",
        "Order not shippable",
        detail,
        errors=[FieldError(detail=detail, code=code)],
    )


def _check_shippable(order: OrderRow, shop: ShopRow) -> None:
    if order.status in NOT_SHIPPABLE_STATUSES:
        raise _not_shippable(
            f"Order {order.id} is {order.status}; it cannot ship.", f"order_{order.status}"
        )
    if shop.status == DISCONNECTED:
        raise _not_shippable(
            f"Shop {shop.id} is disconnected; connect it again to confirm shipments.",
            "shop_disconnected",
        )
    if not confirms_shipments(shop.platform):
        raise _not_shippable(
            f"ShopBridge cannot confirm shipments on {shop.platform} (no connector installed "
            "for it, or the connector does not confirm shipments).",
            "platform_cannot_ship",
        )


def _check_carrier(code: str, shop: ShopRow) -> None:
    support = carrier_support(shop.platform)
    if support is None or support.accepts_for_shop(code, shop.settings or {}):
        return
    detail = f"{shop.platform} does not accept carrier {code}."
    if OTHER in support.supported:
        detail += " Send it as carrier_code OTHER with carrier_name (and tracking_url)."
    detail += f" GET /v1/carriers lists what {shop.platform} accepts."
    raise ProblemError(
        422,
        "carrier-not-supported",
        "Carrier not supported by the platform",
        detail,
        errors=[FieldError(detail=detail, pointer="#/carrier_code", code="carrier_not_supported")],
    )


def _resolve_lines(
    requested: Sequence[ShipmentLineIn] | None, order: OrderRow, shipments: Sequence[ShipmentRow]
) -> list[LineQuantity]:
    """Check the requested lines against what is left to ship; empty = every unshipped line
    (recorded as such, so the platform ships whatever it still has open)."""
    left = unshipped_quantities(order, shipments)
    if not requested:
        if left and not any(left.values()):
            detail = f"Every line of order {order.id} has shipped already."
            raise ProblemError(
                422,
                "quantity-exceeds-unshipped",
                "Quantity exceeds what is left to ship",
                detail,
                errors=[FieldError(detail=detail, pointer="#/lines", code="nothing_to_ship")],
            )
        return []
    unknown: list[FieldError] = []
    over: list[FieldError] = []
    for index, line in enumerate(requested):
        if line.line_id not in left:
            unknown.append(
                FieldError(
                    detail=f"order {order.id} has no line {line.line_id!r}",
                    pointer=f"#/lines/{index}/line_id",
                    code="unknown_line",
                )
            )
        elif line.quantity > left[line.line_id]:
            over.append(
                FieldError(
                    detail=f"{line.quantity} requested, {left[line.line_id]} not shipped yet",
                    pointer=f"#/lines/{index}/quantity",
                    code="exceeds_unshipped",
                )
            )
    if unknown:
        raise ProblemError(
            422,
            "validation-error",
            "Validation error",
            f"The request is not valid: {unknown[0].pointer}: {unknown[0].detail}",
            errors=unknown,
        )
    if over:
        raise ProblemError(
            422,
            "quantity-exceeds-unshipped",
            "Quantity exceeds what is left to ship",
            f"{over[0].pointer}: {over[0].detail}.",
            errors=over,
        )
    return [LineQuantity(line.line_id, line.quantity) for line in requested]


@router.post(
    "/orders/{order_id}/shipments",
    response_model=ShipmentOut,
    status_code=201,
    summary="Confirm a shipment on the order's platform",
    responses={
        200: {"model": ShipmentOut, "description": "The same shipment was recorded before."}
    },
)
async def create_shipment(
    order_id: IdPath,
    body: ShipmentCreate,
    principal: Principal = require("orders:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
    settings: ShipmentSettings = Depends(get_shipment_settings),
) -> JSONResponse:
    """Records the parcel (`shipment.created`) and confirms it on the platform through the
    shop's connector, waiting up to about 20 s. The answer shows the outcome: `confirmed`
    (`shipment.confirmed`; the order is re-read and follows), `rejected` with the platform's
    reason (`shipment.failed`; not retried), or `pending` with `error` and `next_attempt_at`
    (the platform could not answer; retried in the background)."""
    code = normalize_carrier_code(body.carrier_code)
    if code is None:
        raise _unknown_carrier(body.carrier_code)
    if code == OTHER and not (body.carrier_name or "").strip():
        detail = "carrier_code OTHER needs carrier_name: the platform must be told who carries it."
        raise ProblemError(
            422,
            "validation-error",
            "Validation error",
            f"The request is not valid: #/carrier_name: {detail}",
            errors=[FieldError(detail=detail, pointer="#/carrier_name", code="missing")],
        )
    async with db.transaction() as session:
        repo = ShipmentRepository(session, principal.tenant_id)
        order = await repo.lock_order(order_id)
        existing = await repo.find(order.id, code, body.tracking_number)
        if existing is None:
            shop = await session.get(ShopRow, order.shop_id)
            if shop is None or shop.tenant_id != principal.tenant_id:  # pragma: no cover - FK
                raise ProblemError(404, "not-found", "Not found", f"order {order_id} not found")
            _check_shippable(order, shop)
            _check_carrier(code, shop)
            lines = _resolve_lines(body.lines, order, await repo.for_order(order.id))
            row, created = await repo.create(
                order,
                carrier_code=code,
                carrier_name=body.carrier_name,
                tracking_number=body.tracking_number,
                tracking_url=body.tracking_url,
                lines=lines,
                notify_buyer=body.notify_buyer,
                claim_for=settings.lease,
            )
        else:
            row, created = existing, False
    if not created:
        return JSONResponse(
            shipment_body(row, order),
            status_code=200,
            headers={"Location": f"/v1/shipments/{row.id}"},
        )
    confirmer = ShipmentConfirmer(db, box, settings=settings)
    await confirmer.attempt(Claim(row.id, principal.tenant_id, row.attempts))
    async with db.read() as session:
        repo = ShipmentRepository(session, principal.tenant_id)
        row = await repo.get(row.id)
        order = await repo.order_of(row)
    return JSONResponse(
        shipment_body(row, order), status_code=201, headers={"Location": f"/v1/shipments/{row.id}"}
    )


@router.get(
    "/orders/{order_id}/shipments",
    response_model=Page[ShipmentOut],
    summary="Shipments of an order",
)
async def list_order_shipments(
    order_id: IdPath,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    principal: Principal = require("orders:read"),
    db: Database = Depends(get_db),
) -> JSONResponse:
    """Oldest first: the order the packages were recorded in."""
    filters = {"r": "order-shipments", "order": order_id}
    after = decode_cursor(cursor, filters)
    async with db.read() as session:
        order = await OrderRepository(session, principal.tenant_id).get(order_id)
        rows = await ShipmentRepository(session, principal.tenant_id).for_order(
            order.id, after_id=after, limit=limit + 1
        )
    data, next_cursor, has_more = page_of(rows, limit, filters, lambda r: shipment_body(r, order))
    return JSONResponse({"data": data, "next_cursor": next_cursor, "has_more": has_more})


@router.get("/shipments/{shipment_id}", response_model=ShipmentDetail, summary="Get a shipment")
async def get_shipment(
    shipment_id: IdPath,
    principal: Principal = require("orders:read"),
    db: Database = Depends(get_db),
) -> JSONResponse:
    """With its tracking events, oldest first."""
    async with db.read() as session:
        repo = ShipmentRepository(session, principal.tenant_id)
        body = await detail_body(repo, await repo.get(shipment_id))
    return JSONResponse(body)


@router.post(
    "/shipments/{shipment_id}/tracking",
    response_model=TrackingUpdateOut,
    summary="Report carrier tracking events",
)
async def add_tracking(
    shipment_id: IdPath,
    body: TrackingUpdate,
    principal: Principal = require("orders:write"),
    db: Database = Depends(get_db),
) -> JSONResponse:
    """Stores the events not seen before (an event is its shipment, time and status, so
    reporting the same scan again changes nothing), sets `tracking_status` to the latest
    event's status and emits one `shipment.tracking_updated` with the new events."""
    events: list[NewTrackingEvent] = []
    for index, event in enumerate(body.events):
        try:
            occurred_at = to_utc(event.occurred_at)
        except ValueError as exc:
            detail = "occurred_at is out of range"
            raise ProblemError(
                422,
                "validation-error",
                "Validation error",
                f"The request is not valid: #/events/{index}/occurred_at: {detail}",
                errors=[
                    FieldError(detail=detail, pointer=f"#/events/{index}/occurred_at", code="range")
                ],
            ) from exc
        events.append(
            NewTrackingEvent(
                occurred_at=occurred_at,
                status=event.status,
                description=event.description,
                location=event.location,
            )
        )
    async with db.transaction() as session:
        repo = ShipmentRepository(session, principal.tenant_id)
        row, added = await repo.add_tracking(shipment_id, events, body.source)
        shipment = await detail_body(repo, row)
    out = {"added": len(added), "duplicates": len(events) - len(added), "shipment": shipment}
    return JSONResponse(TrackingUpdateOut.model_validate(out).model_dump(mode="json"))
