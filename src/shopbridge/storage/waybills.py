"""E-waybills of one tenant's orders (privacy shipping).

A waybill row holds what the warehouse needs to print and ship, and nothing personal: the
waybill number, the carrier (unified and as the platform named it) and the platform's print
data, which is opaque and, for every platform that protects its buyers, encrypted for the
platform's print component only. One row per (order, package): asking again for the same
package gives back the stored waybill, which is also what the platforms do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.errors import NotFound
from shopbridge.storage.tables import OrderRow, WaybillRow

__all__ = ["CANCELLED", "ISSUED", "IssuedWaybill", "WaybillRepository", "waybill_document"]

ISSUED: Final = "issued"
CANCELLED: Final = "cancelled"


@dataclass(frozen=True)
class IssuedWaybill:
    """What the platform answered, as the repository stores it."""

    carrier_code: str
    platform_carrier_code: str
    waybill_number: str
    parent_waybill_number: str | None
    print_data: str
    print_format: str


class WaybillRepository:
    """Reads and writes `waybills` rows of one tenant; other tenants' rows do not exist."""

    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def find(self, order_id: str, package_id: str) -> WaybillRow | None:
        stmt = select(WaybillRow).where(
            WaybillRow.tenant_id == self.tenant_id,
            WaybillRow.order_id == order_id,
            WaybillRow.package_id == package_id,
        )
        return (await self.session.scalars(stmt)).first()

    async def get(self, waybill_id: str) -> WaybillRow:
        stmt = select(WaybillRow).where(
            WaybillRow.tenant_id == self.tenant_id, WaybillRow.id == waybill_id
        )
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            raise NotFound(f"waybill {waybill_id} not found")
        return row

    async def for_order(
        self, order_id: str, *, after_id: str | None = None, limit: int = 50
    ) -> Sequence[WaybillRow]:
        """Oldest first (the order the packages were printed in), paged by id."""
        stmt = select(WaybillRow).where(
            WaybillRow.tenant_id == self.tenant_id, WaybillRow.order_id == order_id
        )
        if after_id is not None:
            stmt = stmt.where(WaybillRow.id > after_id)
        return (await self.session.scalars(stmt.order_by(WaybillRow.id).limit(limit))).all()

    async def create(
        self, order: OrderRow, *, package_id: str, issued: IssuedWaybill
    ) -> tuple[WaybillRow, bool]:
        """Store a waybill the platform issued; `(row, False)` with the row already stored
        when a concurrent request for the same package won the race (the platform answered
        both with the same waybill)."""
        if order.tenant_id != self.tenant_id:
            raise NotFound(f"order {order.id} not found")
        now = utcnow()
        row = WaybillRow(
            id=new_id("wb"),
            tenant_id=self.tenant_id,
            order_id=order.id,
            shop_id=order.shop_id,
            carrier_code=issued.carrier_code,
            platform_carrier_code=issued.platform_carrier_code,
            waybill_number=issued.waybill_number,
            parent_waybill_number=issued.parent_waybill_number,
            print_data=issued.print_data,
            print_format=issued.print_format,
            package_id=package_id,
            state=ISSUED,
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError:
            existing = await self.find(order.id, package_id)
            if existing is None:  # pragma: no cover - the constraint names this pair only
                raise
            return existing, False
        return row, True


def waybill_document(row: WaybillRow) -> dict[str, Any]:
    """The API shape of a row (`api.waybill_schemas.WaybillOut`)."""
    return {
        "id": row.id,
        "order_id": row.order_id,
        "shop_id": row.shop_id,
        "carrier": row.carrier_code,
        "platform_carrier_code": row.platform_carrier_code,
        "waybill_number": row.waybill_number,
        "parent_waybill_number": row.parent_waybill_number,
        "package_id": row.package_id,
        "print_format": row.print_format,
        "print_data": row.print_data,
        "state": row.state,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
