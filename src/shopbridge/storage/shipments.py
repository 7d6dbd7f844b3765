"""Shipments of one tenant: recording what the ERP shipped, the confirmation's outcome on the
platform, carrier tracking, and their events.

A shipment is recorded (and committed) *before* the platform is called, so a crash during
the call leaves a pending shipment that the worker picks up. Every attempt to confirm is a
claim: it bumps `attempts` and pushes `next_attempt_at` out by a lease, and an outcome is only
written by the holder of the latest claim (same `attempts`), so a slow caller whose claim was
taken over can never overwrite the newer attempt's result, and two workers never confirm the
same shipment at once.

Shipments hold no buyer data: only carrier, tracking number, order line ids and quantities.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.carriers import tracking_url
from shopbridge.core.ids import new_id
from shopbridge.core.time import to_utc, utcnow
from shopbridge.storage.errors import NotFound
from shopbridge.storage.outbox import append_event
from shopbridge.storage.tables import OrderRow, ShipmentRow, TrackingEventRow

PENDING: Final = "pending"
CONFIRMED: Final = "confirmed"
REJECTED: Final = "rejected"
STATES: Final = (PENDING, CONFIRMED, REJECTED)

SHIPMENT_CREATED: Final = "shipment.created"
SHIPMENT_CONFIRMED: Final = "shipment.confirmed"
SHIPMENT_FAILED: Final = "shipment.failed"
SHIPMENT_TRACKING_UPDATED: Final = "shipment.tracking_updated"

TRACKING_STATUSES: Final = (
    "info_received",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "exception",
    "returned",
)

_SHIPPED_LINE_STATUSES: Final = frozenset({"shipped", "delivered", "completed"})
_CLOSED_LINE_STATUSES: Final = frozenset({"cancelled", "closed"})
_OPTIONS_KEY: Final = "_options"


@dataclass(frozen=True)
class LineQuantity:
    line_id: str
    quantity: int


@dataclass(frozen=True)
class NewTrackingEvent:
    occurred_at: datetime
    status: str
    description: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class Claim:
    """One attempt's right to confirm a shipment: valid while `attempts` is unchanged."""

    shipment_id: str
    tenant_id: str
    attempt: int


# --- the `lines` column --------------------------------------------------------------------
#
# `lines` holds [{"line_id", "quantity"}] (empty: every line unshipped at the time). The
# ERP's `notify_buyer` must survive until the worker retries, and the table has no column of
# its own for it, so when true it rides along as a trailing {"_options": {...}} entry that
# only this module reads and writes.


def _encode_lines(lines: Sequence[LineQuantity], notify_buyer: bool) -> list[dict[str, Any]]:
    encoded: list[dict[str, Any]] = [
        {"line_id": line.line_id, "quantity": line.quantity} for line in lines
    ]
    if notify_buyer:
        encoded.append({_OPTIONS_KEY: {"notify_buyer": True}})
    return encoded


def shipment_lines(row: ShipmentRow) -> list[LineQuantity]:
    """The lines and quantities of a shipment; empty means every line unshipped at the time."""
    return [
        LineQuantity(str(item["line_id"]), int(item["quantity"]))
        for item in row.lines or []
        if _OPTIONS_KEY not in item
    ]


def notify_buyer(row: ShipmentRow) -> bool:
    for item in row.lines or []:
        options = item.get(_OPTIONS_KEY)
        if isinstance(options, dict):
            return bool(options.get("notify_buyer"))
    return False


# --- rendering (API answers and event payloads share it) -------------------------------


def shipment_document(row: ShipmentRow, order: OrderRow) -> dict[str, Any]:
    """The shipment as the API shows it and events carry it (JSON-ready)."""
    error = (
        {"code": row.error_code, "message": row.error_message}
        if row.error_code is not None or row.error_message is not None
        else None
    )
    return {
        "id": row.id,
        "order_id": row.order_id,
        "shop_id": row.shop_id,
        "platform": order.platform,
        "platform_order_id": order.platform_order_id,
        "carrier_code": row.carrier_code,
        "carrier_name": row.carrier_name,
        "tracking_number": row.tracking_number,
        "tracking_url": row.tracking_url or tracking_url(row.carrier_code, row.tracking_number),
        "lines": [{"line_id": x.line_id, "quantity": x.quantity} for x in shipment_lines(row)],
        "notify_buyer": notify_buyer(row),
        "state": row.state,
        "platform_shipment_id": row.platform_shipment_id,
        "error": error,
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at) if row.state == PENDING else None,
        "tracking_status": row.tracking_status,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "confirmed_at": _iso(row.confirmed_at),
    }


def tracking_event_document(row: TrackingEventRow) -> dict[str, Any]:
    return {
        "occurred_at": _iso(row.occurred_at),
        "status": row.status,
        "description": row.description,
        "location": row.location,
        "source": row.source,
        "recorded_at": _iso(row.created_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


# --- what is left to ship ------------------------------------------------------------------


def unshipped_quantities(order: OrderRow, shipments: Iterable[ShipmentRow]) -> dict[str, int]:
    """Units of each order line (by `native_id`) that are not shipped yet, as far as our data
    knows: the order's lines, minus the platform's own shipments in the order document,
    minus our pending and confirmed shipments the platform does not show yet (matched by
    tracking number, so a confirmed shipment that came back with the order is not counted
    twice). A line the platform marks shipped or closed has nothing left. A shipment without
    lines covers everything that was left."""
    doc = order.document or {}
    lines: dict[str, int] = {}
    shipped: dict[str, int] = {}
    for line in doc.get("lines") or []:
        line_id = str(line.get("native_id"))
        quantity = int(line.get("quantity") or 0)
        lines[line_id] = lines.get(line_id, 0) + quantity
        if line.get("status") in _SHIPPED_LINE_STATUSES | _CLOSED_LINE_STATUSES:
            shipped[line_id] = lines[line_id]
    nothing_left = dict.fromkeys(lines, 0)
    on_platform: set[str] = set()
    for parcel in doc.get("shipments") or []:
        if parcel.get("status") == "cancelled":
            continue
        number = parcel.get("tracking_number")
        if isinstance(number, str) and number.strip():
            on_platform.add(number.strip())
        parcel_lines = parcel.get("lines") or []
        if not parcel_lines:
            return nothing_left
        for item in parcel_lines:
            line_id = str(item.get("line_id"))
            shipped[line_id] = shipped.get(line_id, 0) + int(item.get("quantity") or 0)
    for row in shipments:
        if row.state == REJECTED or row.tracking_number in on_platform:
            continue
        row_lines = shipment_lines(row)
        if not row_lines:
            return nothing_left
        for item in row_lines:
            shipped[item.line_id] = shipped.get(item.line_id, 0) + item.quantity
    return {line_id: max(total - shipped.get(line_id, 0), 0) for line_id, total in lines.items()}


# --- the repository ----------------------------------------------------------------------------


class ShipmentRepository:
    """Shipments and tracking events of one tenant; every query is filtered by it."""

    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def get(self, shipment_id: str, *, for_update: bool = False) -> ShipmentRow:
        stmt = select(ShipmentRow).where(
            ShipmentRow.tenant_id == self.tenant_id, ShipmentRow.id == shipment_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            raise NotFound(f"shipment {shipment_id} not found")
        return row

    async def order_of(self, row: ShipmentRow) -> OrderRow:
        stmt = select(OrderRow).where(
            OrderRow.tenant_id == self.tenant_id, OrderRow.id == row.order_id
        )
        order = (await self.session.scalars(stmt)).first()
        if order is None:  # pragma: no cover - the foreign key cascades deletes
            raise NotFound(f"order {row.order_id} not found")
        return order

    async def lock_order(self, order_id: str) -> OrderRow:
        """The order, locked for this transaction: shipments of one order are recorded one
        at a time, so two packages can never both take the same unshipped units."""
        stmt = (
            select(OrderRow)
            .where(OrderRow.tenant_id == self.tenant_id, OrderRow.id == order_id)
            .with_for_update()
        )
        order = (await self.session.scalars(stmt)).first()
        if order is None:
            raise NotFound(f"order {order_id} not found")
        return order

    async def find(
        self, order_id: str, carrier_code: str, tracking_number: str
    ) -> ShipmentRow | None:
        stmt = select(ShipmentRow).where(
            ShipmentRow.tenant_id == self.tenant_id,
            ShipmentRow.order_id == order_id,
            ShipmentRow.carrier_code == carrier_code,
            ShipmentRow.tracking_number == tracking_number,
        )
        return (await self.session.scalars(stmt)).first()

    async def for_order(
        self, order_id: str, *, after_id: str | None = None, limit: int | None = None
    ) -> Sequence[ShipmentRow]:
        """Oldest first (the order the packages left in), paged by id."""
        stmt = select(ShipmentRow).where(
            ShipmentRow.tenant_id == self.tenant_id, ShipmentRow.order_id == order_id
        )
        if after_id:
            stmt = stmt.where(ShipmentRow.id > after_id)
        stmt = stmt.order_by(ShipmentRow.id)
        if limit is not None:
            stmt = stmt.limit(limit)
        return (await self.session.scalars(stmt)).all()

    async def create(
        self,
        order: OrderRow,
        *,
        carrier_code: str,
        carrier_name: str | None,
        tracking_number: str,
        tracking_url: str | None,
        lines: Sequence[LineQuantity],
        notify_buyer: bool,
        claim_for: timedelta,
    ) -> tuple[ShipmentRow, bool]:
        """Record a shipment and `shipment.created`, claimed by the caller for `claim_for`
        (attempt 1), or return the existing one of the same (order, carrier, tracking
        number) with `created=False`."""
        if order.tenant_id != self.tenant_id:
            raise NotFound(f"order {order.id} not found")
        existing = await self.find(order.id, carrier_code, tracking_number)
        if existing is not None:
            return existing, False
        now = utcnow()
        row = ShipmentRow(
            id=new_id("shp"),
            tenant_id=self.tenant_id,
            order_id=order.id,
            shop_id=order.shop_id,
            carrier_code=carrier_code,
            carrier_name=carrier_name,
            tracking_number=tracking_number,
            tracking_url=tracking_url,
            lines=_encode_lines(lines, notify_buyer),
            state=PENDING,
            attempts=1,
            next_attempt_at=now + claim_for,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError:
            # The same shipment was recorded concurrently: it is that one.
            existing = await self.find(order.id, carrier_code, tracking_number)
            if existing is None:
                raise
            return existing, False
        await self._event(SHIPMENT_CREATED, row, order)
        return row, True

    # outcomes of an attempt (only the holder of the latest claim writes) --------------------

    async def _claimed(self, claim: Claim) -> ShipmentRow | None:
        row = await self.get(claim.shipment_id, for_update=True)
        if row.state != PENDING or row.attempts != claim.attempt:
            return None
        return row

    async def confirm(self, claim: Claim, platform_shipment_id: str | None) -> ShipmentRow | None:
        row = await self._claimed(claim)
        if row is None:
            return None
        now = utcnow()
        row.state = CONFIRMED
        row.platform_shipment_id = platform_shipment_id
        row.error_code = None
        row.error_message = None
        row.next_attempt_at = None
        row.confirmed_at = now
        row.updated_at = now
        await self.session.flush()
        await self._event(SHIPMENT_CONFIRMED, row, await self.order_of(row))
        return row

    async def reject(self, claim: Claim, code: str | None, message: str) -> ShipmentRow | None:
        row = await self._claimed(claim)
        if row is None:
            return None
        row.state = REJECTED
        row.error_code = code
        row.error_message = message
        row.next_attempt_at = None
        row.updated_at = utcnow()
        await self.session.flush()
        await self._event(
            SHIPMENT_FAILED,
            row,
            await self.order_of(row),
            error={"code": code, "message": message},
        )
        return row

    async def retry_later(
        self, claim: Claim, code: str | None, message: str, at: datetime
    ) -> ShipmentRow | None:
        """A transient failure: stays pending, with the reason, until `at`. No event: the
        shipment has not changed in a way the ERP must act on."""
        row = await self._claimed(claim)
        if row is None:
            return None
        row.error_code = code
        row.error_message = message
        row.next_attempt_at = at
        row.updated_at = utcnow()
        await self.session.flush()
        return row

    # tracking ---------------------------------------------------------------------------------

    async def tracking_events(self, shipment_id: str) -> Sequence[TrackingEventRow]:
        stmt = (
            select(TrackingEventRow)
            .where(
                TrackingEventRow.tenant_id == self.tenant_id,
                TrackingEventRow.shipment_id == shipment_id,
            )
            .order_by(TrackingEventRow.occurred_at, TrackingEventRow.id)
        )
        return (await self.session.scalars(stmt)).all()

    async def add_tracking(
        self, shipment_id: str, events: Sequence[NewTrackingEvent], source: str
    ) -> tuple[ShipmentRow, list[TrackingEventRow]]:
        """Store the events not stored yet (same shipment, instant and status = same event),
        set `tracking_status` to the latest event's status, and append one
        `shipment.tracking_updated` with the new events. The shipment row is locked, so
        concurrent reports of the same events store them once."""
        row = await self.get(shipment_id, for_update=True)
        stored = await self.tracking_events(row.id)
        seen = {(to_utc(e.occurred_at), e.status) for e in stored}
        added: list[TrackingEventRow] = []
        now = utcnow()
        for event in events:
            key = (to_utc(event.occurred_at), event.status)
            if key in seen:
                continue
            seen.add(key)
            added.append(
                TrackingEventRow(
                    shipment_id=row.id,
                    tenant_id=self.tenant_id,
                    occurred_at=key[0],
                    status=event.status,
                    description=event.description,
                    location=event.location,
                    source=source,
                    created_at=now,
                )
            )
        if not added:
            return row, []
        self.session.add_all(added)
        await self.session.flush()
        latest = max([*stored, *added], key=lambda e: (to_utc(e.occurred_at), e.id))
        row.tracking_status = latest.status
        row.updated_at = now
        await self.session.flush()
        await self._event(
            SHIPMENT_TRACKING_UPDATED,
            row,
            await self.order_of(row),
            events=[tracking_event_document(e) for e in added],
        )
        return row, added

    async def _event(self, type: str, row: ShipmentRow, order: OrderRow, **extra: Any) -> None:
        # subject_id = the order: webhooks of one order (order and shipment events) stay in
        # the order they happened.
        await append_event(
            self.session,
            tenant_id=self.tenant_id,
            type=type,
            shop_id=row.shop_id,
            subject_id=row.order_id,
            payload={"shipment": shipment_document(row, order), **extra},
        )


# --- the worker's side (across tenants, like the sync engine's shop claims) ------------------


async def claim_due(
    session: AsyncSession,
    *,
    lease: timedelta,
    limit: int,
    now: datetime | None = None,
    shipment_ids: Iterable[str] | None = None,
) -> list[Claim]:
    """Claim up to `limit` pending shipments whose next attempt is due: each gets
    `attempts + 1` and `next_attempt_at = now + lease` (if the claimer dies, the shipment is
    due again when the lease runs out). On PostgreSQL `FOR UPDATE SKIP LOCKED` keeps
    concurrent workers off each other's rows; on SQLite the write transaction serialises
    claims. Either way a claimed row is no longer due, so no second worker can take it."""
    now = now or utcnow()
    stmt = (
        select(ShipmentRow)
        .where(ShipmentRow.state == PENDING, ShipmentRow.next_attempt_at <= now)
        .order_by(ShipmentRow.next_attempt_at, ShipmentRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if shipment_ids is not None:
        stmt = stmt.where(ShipmentRow.id.in_(list(shipment_ids)))
    claims: list[Claim] = []
    for row in (await session.scalars(stmt)).all():
        row.attempts += 1
        row.next_attempt_at = now + lease
        row.updated_at = now
        claims.append(Claim(row.id, row.tenant_id, row.attempts))
    await session.flush()
    return claims
