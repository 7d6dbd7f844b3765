"""Privacy shipping (隐私发货): e-waybills printed from the platform's recipient handle, and
the audited exception of decrypting a recipient.

`POST /v1/orders/{id}/waybill` asks the order's platform for an electronic waybill addressed
by the platform's own handle of the recipient (Taobao: the OAID). ShopBridge never sends,
holds or returns the buyer's name, phone or address for it: the answer's `print_data` is the
platform's encrypted print document, which only its print component (Cainiao cloud print)
renders on the warehouse's printer. The same package id again answers the stored waybill.

`POST /v1/receivers/decrypt` is for the cases printing does not cover (a carrier with its own
waybill system, after-sales calls). It needs the `pii:read` scope, a `Reveal-Reason`, stays
under `SHOPBRIDGE_PII_DECRYPT_PER_MINUTE` per key, and every order it decrypts is recorded in
the access audit before the answer leaves. The plaintext exists only in that answer: never
stored, never logged.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from shopbridge.api.deps import get_box, get_db
from shopbridge.api.pagination import decode_cursor, page_of
from shopbridge.api.problems import V1_ERRORS, FieldError, ProblemError, problem_responses
from shopbridge.api.reveal import REASON_HEADER, RevealReasonHeader, reveal_reason
from shopbridge.api.schemas import Page
from shopbridge.api.security import Principal, require
from shopbridge.api.validation import ID_PATTERN
from shopbridge.api.waybill_schemas import (
    DecryptedAddressOut,
    DecryptedReceiverOut,
    DecryptedResultOut,
    DecryptIn,
    DecryptOut,
    WaybillCreate,
    WaybillOut,
)
from shopbridge.config import Settings
from shopbridge.connectors import (
    AuthExpired,
    Capability,
    Connector,
    ConnectorError,
    RateLimited,
    Rejected,
)
from shopbridge.connectors.base import (
    DecryptedReceiver,
    ReceiverQuery,
    ReceiverRegion,
    WaybillAddress,
    WaybillItem,
    WaybillPackage,
    WaybillRequest,
    WaybillResult,
    WaybillSender,
)
from shopbridge.connectors.registry import UnknownConnector, connector_class
from shopbridge.core import Order
from shopbridge.core.carriers import CARRIERS, normalize_carrier_code
from shopbridge.core.ids import new_ulid
from shopbridge.core.time import utcnow
from shopbridge.logging import get_logger
from shopbridge.storage.audit import Access, record
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.orders import OrderRepository, load_order
from shopbridge.storage.shops import DISCONNECTED
from shopbridge.storage.tables import AuditRow, OrderRow, ShopRow
from shopbridge.storage.waybills import IssuedWaybill, WaybillRepository, waybill_document
from shopbridge.sync.connect import build_connector

router = APIRouter(responses=V1_ERRORS, tags=["privacy shipping"])
IdPath = Annotated[str, Path(pattern=ID_PATTERN)]
log = get_logger(__name__)

PLATFORM_TIMEOUT: Final = 25.0
"""Seconds one platform exchange (all its calls) may take before the API answers 424."""
RATE_WINDOW: Final = timedelta(minutes=1)
DECRYPT: Final = "decrypt"
WAYBILL: Final = "waybill"
NOT_PRINTABLE_STATUSES: Final = frozenset({"cancelled", "closed"})
LOCAL_REJECTIONS: Final = frozenset(
    {"unsupported_option", "bad_package_id", "bad_package", "bad_scene"}
)
"""Connector refusals raised before any platform call because the request itself cannot be
sent: they are the client's to fix (422), not the platform's (424)."""
DECRYPTED_FIELDS: Final = (
    ("name", "receiver.name"),
    ("mobile", "receiver.phone"),
    ("phone", "receiver.alt_phone"),
    ("address_detail", "receiver.address.lines[]"),
)
"""Decrypted value -> the unified field it is (the names audit records carry)."""


# --- helpers ----------------------------------------------------------------------------------


def _unknown_carrier(code: str) -> ProblemError:
    valid = ", ".join(CARRIERS)
    detail = f"Unknown carrier code {code[:64]!r}. Valid codes: {valid} (see GET /v1/carriers)."
    return ProblemError(
        422,
        "unknown-carrier",
        "Unknown carrier",
        detail,
        errors=[FieldError(detail=detail, pointer="#/carrier", code="unknown_carrier")],
    )


def _not_supported(platform: str, what: str) -> ProblemError:
    return ProblemError(
        409,
        "not-supported",
        "Not supported",
        f"ShopBridge cannot {what} on {platform} (no connector installed for it, or the "
        "connector does not offer it); see GET /v1/platforms.",
    )


def _conflict(detail: str, code: str) -> ProblemError:
    return ProblemError(
        409, "conflict", "Conflict", detail, errors=[FieldError(detail=detail, code=code)]
    )


def _platform_problem(exc: BaseException, platform: str, what: str) -> ProblemError:
    """A connector failure as a problem: the client's request (422), the shop's credentials
    (409), or the platform failing or refusing (424, with the platform's code and words)."""
    if isinstance(exc, NotImplementedError | UnknownConnector):
        return _not_supported(platform, what)
    if isinstance(exc, TimeoutError):
        detail = f"{platform} did not answer within {PLATFORM_TIMEOUT:.0f} s; retry later."
        return ProblemError(
            424,
            "platform-error",
            "Platform error",
            detail,
            errors=[FieldError(detail=detail, code="timeout")],
        )
    if isinstance(exc, AuthExpired):
        return ProblemError(
            409,
            "shop-needs-authorisation",
            "Shop needs authorisation",
            f"{platform} refused the shop's credentials ({exc.message}); update them with "
            "PATCH /v1/shops/{id}.",
        )
    if isinstance(exc, Rejected) and exc.code == "unsupported_carrier":
        return ProblemError(
            422,
            "carrier-not-supported",
            "Carrier not supported by the platform",
            exc.reason,
            errors=[
                FieldError(detail=exc.reason, pointer="#/carrier", code="carrier_not_supported")
            ],
        )
    if isinstance(exc, Rejected) and exc.code in LOCAL_REJECTIONS:
        return ProblemError(
            422,
            "validation-error",
            "Validation error",
            f"The request is not valid: {exc.reason}",
            errors=[FieldError(detail=exc.reason, code=exc.code)],
        )
    if isinstance(exc, ConnectorError):
        said = exc.platform_message or exc.message
        headers = (
            {"Retry-After": str(max(1, math.ceil(exc.retry_after)))}
            if isinstance(exc, RateLimited)
            else None
        )
        return ProblemError(
            424,
            "platform-error",
            "Platform error",
            f"{platform} {exc.interface or ''} answered {exc.code or 'an error'}: {said}".replace(
                "  ", " "
            ),
            errors=[FieldError(detail=said, code=exc.code)],
            headers=headers,
        )
    raise exc


def _connector_with(platform: str, capability: Capability, what: str) -> None:
    try:
        capabilities = connector_class(platform).info.capabilities
    except UnknownConnector:
        raise _not_supported(platform, what) from None
    if capability not in capabilities:
        raise _not_supported(platform, what)


def _check_shop(shop: ShopRow, what: str) -> None:
    if shop.status == DISCONNECTED:
        raise _conflict(
            f"Shop {shop.id} is disconnected; connect it again to {what}.", "shop_disconnected"
        )


def _receiver_ref(connector: Connector, order: Order, order_id: str) -> str:
    ref = connector.receiver_ref(order)
    if not ref:
        raise _conflict(
            f"Order {order_id} carries no recipient handle from {order.platform} (the "
            "platform issues it with the order); wait for the order to sync again.",
            "no_receiver_ref",
        )
    return ref


async def _with_timeout(call: Any) -> Any:
    return await asyncio.wait_for(call, PLATFORM_TIMEOUT)


@dataclass
class _Loaded:
    row: OrderRow
    order: Order
    shop: ShopRow


async def _load(db: Database, tenant_id: str, order_ids: Sequence[str]) -> list[_Loaded]:
    """The orders with their shops; 404 for one that is not this tenant's."""
    loaded: list[_Loaded] = []
    async with db.read() as session:
        repo = OrderRepository(session, tenant_id)
        shops: dict[str, ShopRow] = {}
        for order_id in order_ids:
            row = await repo.get(order_id)
            shop = shops.get(row.shop_id) or await session.get(ShopRow, row.shop_id)
            if shop is None or shop.tenant_id != tenant_id:  # pragma: no cover - FK
                raise ProblemError(404, "not-found", "Not found", f"order {order_id} not found")
            shops[shop.id] = shop
            loaded.append(_Loaded(row, await load_order(session, row), shop))
    return loaded


def _waybill_body(row: Any) -> dict[str, Any]:
    body: dict[str, Any] = WaybillOut.model_validate(waybill_document(row)).model_dump(mode="json")
    return body


# --- waybills ---------------------------------------------------------------------------------


@router.post(
    "/orders/{order_id}/waybill",
    response_model=WaybillOut,
    status_code=201,
    summary="Get an e-waybill for a package (privacy shipping)",
    responses={
        200: {"model": WaybillOut, "description": "This package already has its waybill."},
        **problem_responses(424),
    },
)
async def create_waybill(
    order_id: IdPath,
    body: WaybillCreate,
    principal: Principal = require("orders:write"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> JSONResponse:
    """Asks the order's platform for an e-waybill addressed by its own recipient handle
    (Taobao: OAID + trade id through Cainiao): no name, phone or street is sent, stored or
    returned. Print `print_data` with the component `print_format` names; confirm the
    shipment with `waybill_number` afterwards (`POST /v1/orders/{id}/shipments`).

    Idempotent by `package.id`: the same package again answers 200 with the stored waybill
    without calling the platform (a reprint); another id is another parcel. Without an id
    one is generated and returned in `package_id`."""
    code = normalize_carrier_code(body.carrier)
    if code is None:
        raise _unknown_carrier(body.carrier)
    package_id = body.package.id or f"pkg_{new_ulid()}"
    (loaded,) = await _load(db, principal.tenant_id, [order_id])
    row, order, shop = loaded.row, loaded.order, loaded.shop
    async with db.read() as session:
        existing = await WaybillRepository(session, principal.tenant_id).find(row.id, package_id)
    if existing is not None:
        if existing.carrier_code != code:
            raise _conflict(
                f"Package {package_id} of order {row.id} already has a {existing.carrier_code} "
                f"waybill ({existing.waybill_number}); use another package id for another "
                "parcel.",
                "package_has_waybill",
            )
        return JSONResponse(_waybill_body(existing), status_code=200)
    what = "issue e-waybills"
    if row.status in NOT_PRINTABLE_STATUSES:
        detail = f"Order {row.id} is {row.status}; it cannot ship."
        raise ProblemError(
            409,
            "order-not-shippable",
            "Order not shippable",
            detail,
            errors=[FieldError(detail=detail, code=f"order_{row.status}")],
        )
    _check_shop(shop, what)
    _connector_with(shop.platform, Capability.WAYBILL, what)
    connector = build_connector(box, shop)
    try:
        ref = _receiver_ref(connector, order, row.id)
        region = order.receiver.address if order.receiver is not None else None
        request = WaybillRequest(
            platform_order_id=row.platform_order_id,
            receiver_ref=ref,
            carrier_code=code,
            sender=WaybillSender(
                name=body.sender.name,
                mobile=body.sender.mobile,
                phone=body.sender.phone,
                address=WaybillAddress(
                    province=body.sender.address.province,
                    city=body.sender.address.city,
                    district=body.sender.address.district,
                    town=body.sender.address.town,
                    detail=body.sender.address.detail,
                ),
            ),
            package=WaybillPackage(
                id=package_id,
                items=tuple(WaybillItem(i.name, i.quantity) for i in body.package.items),
                weight_g=body.package.weight_g,
                volume_ml=body.package.volume_ml,
            ),
            # Administrative divisions only (not personal data): carriers route on them.
            region=ReceiverRegion(
                country=region.country,
                province=region.province,
                city=region.city,
                district=region.district,
                town=region.town,
            )
            if region is not None
            else ReceiverRegion(),
            template_url=body.template_url,
            options=dict(body.options),
        )
        try:
            result: WaybillResult = await _with_timeout(connector.issue_waybill(request))
        except (ConnectorError, NotImplementedError, TimeoutError) as exc:
            log.warning(
                "waybill_failed",
                order_id=row.id,
                shop_id=shop.id,
                error_type=type(exc).__name__,
                code=getattr(exc, "code", None),
            )
            raise _platform_problem(exc, shop.platform, what) from exc
    finally:
        await connector.aclose()
    issued = IssuedWaybill(
        carrier_code=code,
        platform_carrier_code=result.platform_carrier_code,
        waybill_number=result.waybill_number,
        parent_waybill_number=result.parent_waybill_number,
        print_data=result.print_data,
        print_format=result.print_format,
    )
    async with db.transaction() as session:
        stored, created = await WaybillRepository(session, principal.tenant_id).create(
            row, package_id=package_id, issued=issued
        )
    if created:
        # The recipient handle went to the platform's logistics service: on the record,
        # in a transaction of its own (see AuditRow).
        async with db.transaction() as session:
            record(
                session,
                principal.tenant_id,
                [
                    Access(
                        actor_type="api_key",
                        actor_id=principal.key_id,
                        action=WAYBILL,
                        subject_type="order",
                        subject_id=row.id,
                        fields=["receiver_ref"],
                        via="POST /v1/orders/{order_id}/waybill",
                    )
                ],
            )
        log.info(
            "waybill_issued",
            order_id=row.id,
            shop_id=shop.id,
            waybill_id=stored.id,
            carrier=code,
            print_format=result.print_format,
        )
    return JSONResponse(_waybill_body(stored), status_code=201 if created else 200)


@router.get(
    "/orders/{order_id}/waybills",
    response_model=Page[WaybillOut],
    summary="E-waybills of an order",
)
async def list_waybills(
    order_id: IdPath,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    principal: Principal = require("orders:read"),
    db: Database = Depends(get_db),
) -> JSONResponse:
    """Oldest first, with their print data (reprints need no platform call)."""
    filters = {"r": "order-waybills", "order": order_id}
    after = decode_cursor(cursor, filters)
    async with db.read() as session:
        order = await OrderRepository(session, principal.tenant_id).get(order_id)
        rows = await WaybillRepository(session, principal.tenant_id).for_order(
            order.id, after_id=after, limit=limit + 1
        )
    data, next_cursor, has_more = page_of(rows, limit, filters, _waybill_body)
    return JSONResponse({"data": data, "next_cursor": next_cursor, "has_more": has_more})


# --- decrypt ----------------------------------------------------------------------------------


def _rate_limited(retry_after: float, detail: str) -> ProblemError:
    seconds = max(1, math.ceil(retry_after))
    return ProblemError(
        429,
        "rate-limited",
        "Too many requests",
        f"{detail} Retry after {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


async def _check_decrypt_budget(
    db: Database, principal: Principal, wanted: int, limit: int
) -> None:
    """`SHOPBRIDGE_PII_DECRYPT_PER_MINUTE`: receivers one API key may decrypt in any 60 s,
    counted from the audit log (every decrypted order has its record), so the budget holds
    across API processes and restarts. Checked before the platform is called; two requests
    racing at the very edge may both pass."""
    now = utcnow()
    async with db.read() as session:
        times = (
            await session.scalars(
                select(AuditRow.created_at)
                .where(
                    AuditRow.tenant_id == principal.tenant_id,
                    AuditRow.actor_type == "api_key",
                    AuditRow.actor_id == principal.key_id,
                    AuditRow.action == DECRYPT,
                    AuditRow.created_at > now - RATE_WINDOW,
                )
                .order_by(AuditRow.created_at)
            )
        ).all()
    if len(times) + wanted <= limit:
        return
    budget = f"This key may decrypt {limit} receivers per minute"
    if wanted > limit:
        raise _rate_limited(
            RATE_WINDOW.total_seconds(), f"{budget}; send at most {limit} orders per call."
        )
    # The oldest records leave the window first: wait until enough of them have.
    frees_at = times[len(times) + wanted - limit - 1] + RATE_WINDOW
    raise _rate_limited(
        (frees_at - now).total_seconds(), f"{budget}; {len(times)} used in the last minute."
    )


def _reason(header: str | None) -> str:
    reason = reveal_reason(header)
    if reason is None:
        detail = "required: say why buyer data is needed (a ticket or case number)"
        raise ProblemError(
            422,
            "validation-error",
            "Validation error",
            f"The request is not valid: {REASON_HEADER} {detail}",
            errors=[FieldError(detail=detail, header=REASON_HEADER, code="missing")],
        )
    return reason


def _result(order_id: str, found: DecryptedReceiver) -> DecryptedResultOut:
    if not found.matched:
        return DecryptedResultOut(order_id=order_id, matched=False, receiver=None)
    return DecryptedResultOut(
        order_id=order_id,
        matched=True,
        receiver=DecryptedReceiverOut(
            name=found.name,
            mobile=found.mobile,
            phone=found.phone,
            address=DecryptedAddressOut(
                country=found.country,
                province=found.province,
                city=found.city,
                district=found.district,
                town=found.town,
                detail=found.address_detail,
            ),
            virtual_number=found.virtual_number,
            virtual_number_expires_at=found.virtual_number_expires_at,
        ),
    )


@router.post(
    "/receivers/decrypt",
    response_model=DecryptOut,
    summary="Decrypt the recipients of orders (audited)",
    responses=problem_responses(424, 429),
)
async def decrypt_receivers(
    body: DecryptIn,
    request: Request,
    reveal_reason_header: RevealReasonHeader = None,
    principal: Principal = require("pii:read"),
    db: Database = Depends(get_db),
    box: SecretBox = Depends(get_box),
) -> JSONResponse:
    """The plaintext recipient of up to 20 orders from their platforms' decrypt service
    (Taobao `taobao.top.oaid.decrypt`). Printing a label never needs this: use
    `POST /v1/orders/{id}/waybill`.

    Needs `pii:read` and a `Reveal-Reason` header; at most
    `SHOPBRIDGE_PII_DECRYPT_PER_MINUTE` receivers per key per minute (429 with
    `Retry-After` beyond). Every order asked for gets an audit record (`action=decrypt`,
    the fields returned, the reason) before the answer is sent. The answer is the only copy:
    `Cache-Control: no-store`, nothing stored or logged."""
    reason = _reason(reveal_reason_header)
    settings: Settings = request.app.state.settings
    loaded = await _load(db, principal.tenant_id, body.order_ids)
    what = "decrypt receivers"
    groups: dict[str, list[_Loaded]] = {}
    for item in loaded:
        _check_shop(item.shop, what)
        _connector_with(item.shop.platform, Capability.RECEIVER_DECRYPT, what)
        groups.setdefault(item.shop.id, []).append(item)
    connectors: dict[str, Connector] = {}
    try:
        queries: dict[str, list[ReceiverQuery]] = {}
        for shop_id, items in groups.items():
            connector = connectors[shop_id] = build_connector(box, items[0].shop)
            queries[shop_id] = [
                ReceiverQuery(
                    platform_order_id=i.row.platform_order_id,
                    receiver_ref=_receiver_ref(connector, i.order, i.row.id),
                    scene=body.scene,
                )
                for i in items
            ]
        await _check_decrypt_budget(db, principal, len(loaded), settings.pii_decrypt_per_minute)
        answers: dict[str, DecryptedReceiver] = {}
        for shop_id, items in groups.items():
            platform = items[0].shop.platform
            try:
                found = await _with_timeout(connectors[shop_id].decrypt_receivers(queries[shop_id]))
            except (ConnectorError, NotImplementedError, TimeoutError) as exc:
                log.warning(
                    "decrypt_failed",
                    shop_id=shop_id,
                    key_id=principal.key_id,
                    error_type=type(exc).__name__,
                    code=getattr(exc, "code", None),
                )
                raise _platform_problem(exc, platform, what) from exc
            if len(found) != len(items):
                raise _platform_problem(
                    ConnectorError(
                        "the platform answered for a different number of orders",
                        platform=platform,
                        code="bad_answer",
                    ),
                    platform,
                    what,
                )
            for item, receiver in zip(items, found, strict=True):
                answers[item.row.id] = receiver
    finally:
        for connector in connectors.values():
            await connector.aclose()
    results = [_result(order_id, answers[order_id]) for order_id in body.order_ids]
    accesses = [
        Access(
            actor_type="api_key",
            actor_id=principal.key_id,
            action=DECRYPT,
            subject_type="order",
            subject_id=order_id,
            fields=[
                unified
                for attribute, unified in DECRYPTED_FIELDS
                if getattr(answers[order_id], attribute)
            ],
            via=f"POST /v1/receivers/decrypt scene={body.scene}",
            reason=reason,
        )
        for order_id in body.order_ids
    ]
    # Committed before the answer leaves; if this fails, the request fails with it.
    async with db.transaction() as session:
        record(session, principal.tenant_id, accesses)
    log.info(
        "receivers_decrypted",
        key_id=principal.key_id,
        scene=body.scene,
        orders=len(results),
        matched=sum(1 for r in results if r.matched),
    )
    out = DecryptOut(data=results).model_dump(mode="json")
    return JSONResponse(out, headers={"Cache-Control": "no-store"})
