"""Platform listings of one tenant and their SKU mapping.

Mapping is automatic by the merchant's SKU code (the code on the Shopify variant or Taobao
SKU equals the ERP's SKU), can be overridden by hand (`manual`, which also expresses bundles:
one listing made of several SKUs), and a listing with neither is `unmapped`: reported, never
silently ignored, and never pushed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.connectors.base import Listing
from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.errors import NotFound
from shopbridge.storage.inventory import Component, Inventory
from shopbridge.storage.tables import ListingComponentRow, ListingRow, ShopRow

AUTO = "auto"
MANUAL = "manual"
UNMAPPED = "unmapped"


@dataclass(frozen=True)
class ListingSyncResult:
    created: int
    updated: int
    unmapped: int


class ListingRepository:
    def __init__(self, session: AsyncSession, tenant_id: str, *, actor: str = "system") -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.inventory = Inventory(session, tenant_id, actor=actor)

    async def _index(self, row: ListingRow) -> None:
        await self.session.execute(
            delete(ListingComponentRow).where(ListingComponentRow.listing_id == row.id)
        )
        merged: dict[str, int] = {}
        for part in row.components:
            merged[part["sku"]] = merged.get(part["sku"], 0) + int(part["quantity"])
        self.session.add_all(
            ListingComponentRow(listing_id=row.id, sku=sku, tenant_id=self.tenant_id, quantity=q)
            for sku, q in merged.items()
        )
        await self.session.flush()

    async def _one_refresh_at_a_time(self, shop: ShopRow) -> None:
        """Two refreshes of one shop's listings at once (the sync worker's and an API call)
        would both insert the listings neither had seen, and on PostgreSQL the second then
        failed on the unique key (a 500). A transaction-scoped advisory lock per shop makes
        the second wait and then find the first one's rows; it touches no table, so nothing
        else waits. SQLite needs none: its write transactions never overlap."""
        bind = self.session.bind
        if bind is not None and bind.dialect.name == "postgresql":
            key = func.hashtextextended(f"shopbridge:listings:{shop.id}", 0)
            await self.session.execute(select(func.pg_advisory_xact_lock(key)))

    async def upsert_pulled(self, shop: ShopRow, listings: Sequence[Listing]) -> ListingSyncResult:
        """Record what the platform lists; automatic mappings follow the merchant SKU code,
        manual ones are kept."""
        if shop.tenant_id != self.tenant_id:
            raise NotFound(f"shop {shop.id} not found")
        await self._one_refresh_at_a_time(shop)
        existing = {
            (r.platform_listing_id, r.platform_sku_id): r
            for r in (
                await self.session.scalars(select(ListingRow).where(ListingRow.shop_id == shop.id))
            ).all()
        }
        created = updated = unmapped = 0
        touched: set[str] = set()
        now = utcnow()
        for listing in listings:
            key = (listing.platform_listing_id, listing.platform_sku_id or "")
            row = existing.get(key)
            if row is None:
                row = ListingRow(
                    id=new_id("lst"),
                    tenant_id=self.tenant_id,
                    shop_id=shop.id,
                    platform_listing_id=key[0],
                    platform_sku_id=key[1],
                    mapping=UNMAPPED,
                    components=[],
                    push_state="idle",
                    push_attempts=0,
                    created_at=now,
                )
                self.session.add(row)
                existing[key] = row
                created += 1
            else:
                updated += 1
            row.platform_variant_id = listing.platform_variant_id
            row.merchant_sku = listing.merchant_sku
            row.title = listing.title
            row.platform_quantity = listing.quantity
            row.updated_at = now
            if row.mapping != MANUAL:
                parts = (
                    [{"sku": listing.merchant_sku, "quantity": 1}] if listing.merchant_sku else []
                )
                if parts != row.components or row.mapping == UNMAPPED:
                    row.components = parts
                    row.mapping = AUTO if parts else UNMAPPED
                    await self.session.flush()
                    await self._index(row)
            unmapped += row.mapping == UNMAPPED
            touched |= {c["sku"] for c in row.components}
        await self.session.flush()
        for sku in touched:
            await self.inventory.sku(sku)
        await self.inventory.recompute_listings(touched)
        return ListingSyncResult(created, updated, unmapped)

    async def get(self, listing_id: str) -> ListingRow:
        stmt = select(ListingRow).where(
            ListingRow.tenant_id == self.tenant_id, ListingRow.id == listing_id
        )
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            raise NotFound(f"listing {listing_id} not found")
        return row

    async def list(
        self,
        *,
        shop_id: str | None = None,
        mapping: str | None = None,
        sku: str | None = None,
        push_state: str | None = None,
        before_id: str | None = None,
        limit: int = 50,
    ) -> Sequence[ListingRow]:
        stmt = select(ListingRow).where(ListingRow.tenant_id == self.tenant_id)
        if shop_id:
            stmt = stmt.where(ListingRow.shop_id == shop_id)
        if mapping:
            stmt = stmt.where(ListingRow.mapping == mapping)
        if push_state:
            stmt = stmt.where(ListingRow.push_state == push_state)
        if sku:
            ids = select(ListingComponentRow.listing_id).where(
                ListingComponentRow.tenant_id == self.tenant_id, ListingComponentRow.sku == sku
            )
            stmt = stmt.where(ListingRow.id.in_(ids))
        if before_id:
            stmt = stmt.where(ListingRow.id < before_id)
        return (await self.session.scalars(stmt.order_by(ListingRow.id.desc()).limit(limit))).all()

    async def set_mapping(
        self, listing_id: str, components: Sequence[Component] | None
    ) -> ListingRow:
        """Manual mapping (a bundle when several components); None returns to automatic."""
        row = await self.get(listing_id)
        before = {c["sku"] for c in row.components}
        if components is None:
            row.components = [{"sku": row.merchant_sku, "quantity": 1}] if row.merchant_sku else []
            row.mapping = AUTO if row.components else UNMAPPED
        else:
            row.components = [{"sku": c.sku, "quantity": c.quantity} for c in components]
            row.mapping = MANUAL
        row.updated_at = utcnow()
        await self.session.flush()
        await self._index(row)
        after = {c["sku"] for c in row.components}
        for sku in after:
            await self.inventory.sku(sku)
        await self.inventory.recompute_listings(before | after)
        if row.mapping == UNMAPPED:
            row.target_quantity = None
            row.push_state = "idle"
        return row
