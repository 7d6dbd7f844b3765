"""Inventory of one tenant: stock per SKU and warehouse, reservations by orders, the ledger,
allocation to platform listings, and what each listing should show.

Every change runs inside the caller's transaction and, in that same transaction, writes its
ledger rows, recomputes the target quantity of every listing the SKU feeds, and appends a
`stock.changed` event. The push to platforms happens afterwards (`shopbridge.sync.stock`),
reading those targets, so a crash can lose neither the change nor the push it implies.

Available to promise (ATP) = on hand - reserved - safety stock, never below zero. Allocation:
`shared` gives every listing the whole ATP (capped per shop if configured); `split` divides
it so the listings together never promise more than there is. `split` also applies while ATP
is at or below the SKU's low-stock threshold: that is what keeps a flash sale from overselling
when three platforms sell the last units at the same moment.

A platform takes a sold unit off its listing at checkout, before ShopBridge hears of the
order. So when an order appears, the listing that sold it is known to show that much less
(`pushed_quantity` and `platform_quantity` are lowered), and `split` keeps each listing's
share and only moves units when the ATP changes for another reason (the ERP, a cancellation):
a sale comes off the listing that made it and causes no push. Pushes set absolute values;
one that reached a listing while orders placed there were still on their way to ShopBridge
would offer those units again, so pushes during a sell-down are what must not happen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core import Order, OrderStatus
from shopbridge.core.time import utcnow
from shopbridge.storage.errors import NotFound, StorageError
from shopbridge.storage.outbox import append_events, event_values
from shopbridge.storage.tables import (
    ListingComponentRow,
    ListingRow,
    OrderRow,
    ShopRow,
    SkuRow,
    StockItemRow,
    StockLedgerRow,
    StockReservationRow,
)

DEFAULT_WAREHOUSE = "default"
RESERVED = "reserved"
RELEASED = "released"
CONSUMED = "consumed"
STOCK_CHANGED = "stock.changed"
_RELEASING = {OrderStatus.CANCELLED, OrderStatus.CLOSED}
_CONSUMING = {OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED}


MAX_UNITS = 1_000_000_000
"""Upper bound of any stored quantity (the columns are 32-bit integers)."""


class InsufficientStock(StorageError):
    """An adjustment would take a warehouse's on-hand below zero."""


class TooMuchStock(StorageError):
    """A change would take a SKU's on-hand past `MAX_UNITS`."""


def _check_total(sku: str, total: int) -> None:
    if total > MAX_UNITS:
        raise TooMuchStock(f"SKU {sku!r} would hold {total} units; at most {MAX_UNITS} are stored")


def sku_subject(tenant_id: str, sku: str) -> str:
    """A stable, short subject id for a SKU, so its events are delivered in order."""
    return "sku_" + hashlib.sha256(f"{tenant_id}\x00{sku}".encode()).hexdigest()[:32]


def available(row: SkuRow) -> int:
    return max(0, row.on_hand - row.reserved - row.safety_stock)


def order_stock_state(status: OrderStatus) -> str:
    if status in _RELEASING:
        return RELEASED
    if status in _CONSUMING:
        return CONSUMED
    return RESERVED


@dataclass(frozen=True)
class StockSet:
    sku: str
    on_hand: int
    version: int
    warehouse: str = DEFAULT_WAREHOUSE


@dataclass(frozen=True)
class SetOutcome:
    sku: str
    warehouse: str
    applied: bool
    on_hand: int
    reason: str | None = None


@dataclass(frozen=True)
class Adjustment:
    sku: str
    delta: int
    reason: str
    warehouse: str = DEFAULT_WAREHOUSE
    reference: str | None = None


@dataclass(frozen=True)
class Component:
    sku: str
    quantity: int


def shown(listing: ListingRow) -> int:
    """What the listing shows as far as ShopBridge knows: the last push or pull, less the
    units it sold since (never below zero)."""
    known = listing.pushed_quantity
    if known is None:
        known = listing.platform_quantity
    return max(0, known or 0)


def even_out(current: Sequence[int], total: int) -> list[int]:
    """Change `current` (units per listing) to sum to `total`, moving as few units as
    possible: a shortfall comes off the largest, a surplus goes to the smallest, so listings
    even out; ties go to the earlier position."""
    have = sum(current)
    if have == total or not current:
        return list(current)
    lo, hi = (0, max(current)) if have > total else (0, total)
    if have > total:  # the highest level L with sum(min(c, L)) <= total
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if sum(min(c, mid) for c in current) <= total else (lo, mid - 1)
        shares = [min(c, lo) for c in current]
        movable = [c > lo for c in current]
    else:  # the highest level L with sum(max(c, L)) <= total
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if sum(max(c, mid) for c in current) <= total else (lo, mid - 1)
        shares = [max(c, lo) for c in current]
        movable = [c <= lo for c in current]
    extra = total - sum(shares)
    for index, can in enumerate(movable):
        if extra and can:
            shares[index] += 1
            extra -= 1
    return shares


def allocate(sku: SkuRow, listings: Sequence[ListingRow]) -> dict[str, int]:
    """Units of this SKU each listing may promise (before bundles divide by their quantity).

    `split` starts from what each listing shows (`shown`, in units of this SKU) and evens it
    out to the ATP; after a sale the listing that sold it already shows one less and the ATP
    is one less, so nothing moves and nothing is pushed."""
    atp = available(sku)
    ordered = sorted(listings, key=lambda row: row.id)
    split = sku.allocation == "split" or (
        sku.low_stock_threshold is not None and atp <= sku.low_stock_threshold
    )
    shares: dict[str, int] = {}
    if split and ordered:
        per_unit = [_units_of(listing, sku.sku) for listing in ordered]
        current = [shown(listing) * units for listing, units in zip(ordered, per_unit, strict=True)]
        for listing, share in zip(ordered, even_out(current, atp), strict=True):
            shares[listing.id] = share
    else:
        shares = {listing.id: atp for listing in ordered}
    for listing in ordered:
        cap = (sku.shop_caps or {}).get(listing.shop_id)
        if isinstance(cap, dict):
            if cap.get("fixed") is not None:
                shares[listing.id] = min(shares[listing.id], int(cap["fixed"]))
            if cap.get("percent") is not None:
                shares[listing.id] = min(shares[listing.id], atp * int(cap["percent"]) // 100)
    return shares


def _units_of(listing: ListingRow, sku: str) -> int:
    return max(1, sum(int(c["quantity"]) for c in listing.components if c["sku"] == sku))


class Inventory:
    """One unit of work on a tenant's stock. Call `finish()` before the transaction commits
    (the helpers that change stock do it themselves)."""

    def __init__(self, session: AsyncSession, tenant_id: str, *, actor: str) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.actor = actor
        self._skus: dict[str, SkuRow] = {}
        self._touched: dict[str, str] = {}
        # Filled by `prepare_orders` (a batch of orders): what `apply_order` would otherwise
        # query line by line and order by order.
        self._by_listing_id: dict[tuple[str, str], list[ListingRow]] | None = None
        self._by_merchant_sku: dict[tuple[str, str], list[ListingRow]] = {}
        self._listings: dict[str, ListingRow] = {}
        self._reservations: dict[str, dict[tuple[int, str], StockReservationRow]] | None = None
        self._batch_touched: set[str] = set()
        self._new_reservations: list[StockReservationRow] = []
        self._ledger_rows: list[dict[str, Any]] | None = None

    # -- rows --------------------------------------------------------------------------------

    async def sku(self, sku: str, *, create: bool = True) -> SkuRow:
        """The SKU's row, locked for this transaction (created when missing).

        Creation is an INSERT … ON CONFLICT DO NOTHING followed by the locking read, so two
        transactions meeting a new SKU at once both end up waiting on the same row instead
        of one failing on the unique key (or deadlocking) halfway through an order."""
        row = self._skus.get(sku)
        if row is not None:
            return row
        if create:
            await self._insert_missing(sku)
        stmt = (
            select(SkuRow)
            .where(SkuRow.tenant_id == self.tenant_id, SkuRow.sku == sku)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        row = (await self.session.scalars(stmt)).first()
        if row is None:
            raise NotFound(f"SKU {sku!r} not found")
        self._skus[sku] = row
        return row

    async def _insert_missing(self, sku: str) -> None:
        await self._insert_missing_many([sku])

    async def _insert_missing_many(self, skus: Iterable[str]) -> None:
        now = utcnow()
        rows = [
            {
                "tenant_id": self.tenant_id,
                "sku": sku,
                "on_hand": 0,
                "reserved": 0,
                "safety_stock": 0,
                "allocation": "shared",
                "shop_caps": {},
                "tracked": False,
                "updated_at": now,
            }
            for sku in sorted(set(skus))
        ]
        if not rows:
            return
        insert = (
            pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        )
        if len(rows) == 1:
            await self.session.execute(insert(SkuRow).values(**rows[0]).on_conflict_do_nothing())
        else:
            await self.session.execute(insert(SkuRow).on_conflict_do_nothing(), rows)

    async def _lock_skus(self, skus: Iterable[str]) -> None:
        """Lock (and cache) the rows of the SKUs that exist, in SKU order, in one statement."""
        wanted = sorted(set(skus) - set(self._skus))
        if not wanted:
            return
        stmt = (
            select(SkuRow)
            .where(SkuRow.tenant_id == self.tenant_id, SkuRow.sku.in_(wanted))
            .order_by(SkuRow.sku)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        for row in (await self.session.scalars(stmt)).all():
            self._skus[row.sku] = row

    def _ledger(
        self,
        row: SkuRow,
        *,
        kind: str,
        before: tuple[int, int],
        warehouse: str | None = None,
        reason: str | None = None,
        reference: str | None = None,
        actor: str | None = None,
    ) -> None:
        values = {
            "tenant_id": self.tenant_id,
            "sku": row.sku,
            "warehouse": warehouse,
            "kind": kind,
            "actor": actor or self.actor,
            "reason": reason,
            "reference": reference,
            "on_hand_before": before[0],
            "on_hand_after": row.on_hand,
            "reserved_before": before[1],
            "reserved_after": row.reserved,
            "at": utcnow(),
        }
        if self._ledger_rows is not None:  # a batch of orders: written by `finish_batch`
            self._ledger_rows.append(values)
        else:
            self.session.add(StockLedgerRow(**values))
        row.updated_at = utcnow()
        self._touched.setdefault(row.sku, reason or kind)

    async def _warehouse(self, sku: str, warehouse: str) -> StockItemRow | None:
        stmt = (
            select(StockItemRow)
            .where(
                StockItemRow.tenant_id == self.tenant_id,
                StockItemRow.sku == sku,
                StockItemRow.warehouse == warehouse,
            )
            .with_for_update()
        )
        return (await self.session.scalars(stmt)).first()

    # -- the ERP's stock -----------------------------------------------------------------------

    async def set_stock(self, items: Iterable[StockSet]) -> list[SetOutcome]:
        """Absolute on-hand values. An item whose version is not newer than the stored one is
        not applied (reported as `stale`), so a late retry cannot roll stock back."""
        outcomes: list[SetOutcome] = []
        # A fixed lock order (SKU, warehouse) keeps concurrent batches from deadlocking.
        for item in sorted(items, key=lambda i: (i.sku, i.warehouse)):
            row = await self.sku(item.sku)
            stock = await self._warehouse(item.sku, item.warehouse)
            if (
                stock is not None
                and stock.source_version is not None
                and item.version <= stock.source_version
            ):
                outcomes.append(
                    SetOutcome(
                        item.sku,
                        item.warehouse,
                        applied=False,
                        on_hand=stock.on_hand,
                        reason=f"stale: version {item.version} is not newer than "
                        f"{stock.source_version}",
                    )
                )
                continue
            before = (row.on_hand, row.reserved)
            previous = stock.on_hand if stock is not None else 0
            if stock is None:
                stock = StockItemRow(
                    tenant_id=self.tenant_id, sku=item.sku, warehouse=item.warehouse
                )
                self.session.add(stock)
            stock.on_hand = item.on_hand
            stock.source_version = item.version
            stock.updated_at = utcnow()
            _check_total(item.sku, row.on_hand + item.on_hand - previous)
            row.on_hand += item.on_hand - previous
            row.tracked = True
            self._ledger(
                row, kind="set", before=before, warehouse=item.warehouse, reason="stock set"
            )
            outcomes.append(
                SetOutcome(item.sku, item.warehouse, applied=True, on_hand=item.on_hand)
            )
        await self.finish()
        return outcomes

    async def adjust(self, adjustments: Iterable[Adjustment]) -> None:
        """Relative changes with a reason (a count correction, a return, damage). All or
        nothing: one that would take a warehouse below zero refuses the whole batch."""
        for adj in sorted(adjustments, key=lambda a: (a.sku, a.warehouse)):
            row = await self.sku(adj.sku)
            stock = await self._warehouse(adj.sku, adj.warehouse)
            current = stock.on_hand if stock is not None else 0
            if current + adj.delta < 0:
                raise InsufficientStock(
                    f"SKU {adj.sku!r} has {current} on hand in {adj.warehouse!r}; "
                    f"cannot apply {adj.delta}"
                )
            if stock is None:
                stock = StockItemRow(
                    tenant_id=self.tenant_id, sku=adj.sku, warehouse=adj.warehouse, on_hand=0
                )
                self.session.add(stock)
            _check_total(adj.sku, row.on_hand + adj.delta)
            before = (row.on_hand, row.reserved)
            stock.on_hand = current + adj.delta
            stock.updated_at = utcnow()
            row.on_hand += adj.delta
            row.tracked = True
            self._ledger(
                row,
                kind="adjust",
                before=before,
                warehouse=adj.warehouse,
                reason=adj.reason,
                reference=adj.reference,
            )
        await self.finish()

    async def set_rules(self, sku: str, **rules: Any) -> SkuRow:
        row = await self.sku(sku)
        before = (row.on_hand, row.reserved)
        for name in ("safety_stock", "low_stock_threshold", "allocation", "shop_caps"):
            if name in rules:
                setattr(row, name, rules[name])
        self._ledger(row, kind="rules", before=before, reason="allocation rules changed")
        await self.finish()
        return row

    # -- orders --------------------------------------------------------------------------------

    async def prepare_orders(self, items: Sequence[tuple[ShopRow, str, Order, bool]]) -> None:
        """Load at once what `apply_order` needs for a batch of orders (`(shop, order id,
        order, new)`; `new`: the order had no row before this batch, so it holds no
        reservation): the listings their lines name (locked), the reservations of the
        orders seen before, and the SKU rows, locked in SKU order. SKUs that a new, not
        cancelled order will reserve are created first, as `apply_order` would create them
        one by one. Applying the orders afterwards, one by one and in order
        (`apply_order_version`, then `finish_order` each and `finish_batch` once), gives
        what applying each alone would."""
        shop_ids: set[str] = set()
        listing_ids: set[str] = set()
        merchant_skus: set[str] = set()
        for shop, _order_id, order, _new in items:
            shop_ids.add(shop.id)
            for line in order.lines:
                if line.platform_product_id:
                    listing_ids.add(line.platform_product_id)
                if line.sku:
                    merchant_skus.add(line.sku)
        self._by_listing_id = {}
        self._by_merchant_sku = {}
        self._ledger_rows = []
        if shop_ids and (listing_ids or merchant_skus):
            rows = (
                await self.session.scalars(
                    select(ListingRow)
                    .where(
                        ListingRow.shop_id.in_(sorted(shop_ids)),
                        or_(
                            ListingRow.platform_listing_id.in_(sorted(listing_ids)),
                            ListingRow.merchant_sku.in_(sorted(merchant_skus)),
                        ),
                    )
                    .order_by(ListingRow.id)
                    .with_for_update()
                    .execution_options(populate_existing=True)
                )
            ).all()
            for listing in rows:
                self._listings[listing.id] = listing
                self._by_listing_id.setdefault(
                    (listing.shop_id, listing.platform_listing_id), []
                ).append(listing)
                if listing.merchant_sku is not None:
                    self._by_merchant_sku.setdefault(
                        (listing.shop_id, listing.merchant_sku), []
                    ).append(listing)
            for group in self._by_listing_id.values():
                group.sort(key=lambda row: row.platform_sku_id)  # the unique index's order
        seen = sorted({order_id for _shop, order_id, _order, new in items if not new})
        self._reservations = {order_id: {} for _shop, order_id, _order, _new in items}
        if seen:
            for res in (
                await self.session.scalars(
                    select(StockReservationRow).where(StockReservationRow.order_id.in_(seen))
                )
            ).all():
                self._reservations[res.order_id][(res.line_no, res.sku)] = res
        created: set[str] = set()
        needed: set[str] = set()
        for shop, _order_id, order, new in items:
            parts = [
                part.sku
                for line in order.lines
                for part in _parts(
                    self._cached_listing(
                        shop, line.platform_product_id, line.platform_variant_id, line.sku
                    ),
                    line.sku,
                )
            ]
            needed.update(parts)
            if new and order_stock_state(order.status) != RELEASED:
                created.update(parts)
        for held in self._reservations.values():
            needed.update(sku for _line_no, sku in held)
        await self._insert_missing_many(created - set(self._skus))
        await self._lock_skus(needed)

    async def apply_order(self, shop: ShopRow, row: OrderRow, order: Order) -> None:
        """Bring the order's reservations in line with its status: reserve at once when it
        appears, release when it is cancelled, consume (take from on hand) when it ships.
        Re-applying the same state changes nothing."""
        await self.apply_order_version(shop, row.id, row.version, order)

    async def apply_order_version(
        self, shop: ShopRow, order_id: str, version: int, order: Order
    ) -> None:
        """`apply_order` for the order row `order_id` at `version` (the version its change
        was written as, which a later change of the same batch may have passed)."""
        target = order_stock_state(order.status)
        wanted: dict[tuple[int, str], int] = {}
        sold_from: dict[str, int] = {}
        for line_no, line in enumerate(order.lines, start=1):
            listing = await self._listing_for_line(
                shop, line.platform_product_id, line.platform_variant_id, line.sku
            )
            if listing is not None:
                sold_from[listing.id] = sold_from.get(listing.id, 0) + line.quantity
            for part in _parts(listing, line.sku):
                key = (line_no, part.sku)
                wanted[key] = wanted.get(key, 0) + part.quantity * line.quantity
        existing = await self._existing_reservations(order_id)
        if not existing and target == RELEASED:
            return  # first seen already cancelled: it never held stock
        reference = f"{shop.platform}:{order.platform_order_id}"
        actor = f"order:{order_id}"
        now = utcnow()
        for key in sorted(set(wanted) | set(existing), key=lambda k: (k[1], k[0])):
            quantity = wanted.get(key, 0)
            state = target if key in wanted else RELEASED
            reservation = existing.get(key)
            if reservation is None:
                if quantity == 0 or state == RELEASED:
                    continue
                reservation = StockReservationRow(
                    tenant_id=self.tenant_id,
                    order_id=order_id,
                    shop_id=shop.id,
                    line_no=key[0],
                    sku=key[1],
                    quantity=0,
                    state=RELEASED,
                    created_at=now,
                    updated_at=now,
                )
                if self._reservations is not None:
                    self._new_reservations.append(reservation)  # see `finish_batch`
                else:
                    self.session.add(reservation)
                existing[key] = reservation
            await self._move(reservation, state, quantity, reference=reference, actor=actor)
        if version == 1 and sold_from:
            await self._sold_on_platform(sold_from, order.placed_at)

    async def _existing_reservations(
        self, order_id: str
    ) -> dict[tuple[int, str], StockReservationRow]:
        if self._reservations is not None and order_id in self._reservations:
            return self._reservations[order_id]
        return {
            (r.line_no, r.sku): r
            for r in (
                await self.session.scalars(
                    select(StockReservationRow).where(StockReservationRow.order_id == order_id)
                )
            ).all()
        }

    async def _sold_on_platform(self, sold: dict[str, int], placed_at: datetime | None) -> None:
        """A new order: its platform took the units off the listings at checkout, so they
        show that much less. Not when ShopBridge set the listing's quantity after the order
        was placed: that push overwrote the platform's own decrement (the unit was offered
        again), and leaving the known quantity as pushed makes the next allocation take it
        back."""
        rows: Iterable[ListingRow]
        if all(listing_id in self._listings for listing_id in sold):
            rows = [self._listings[listing_id] for listing_id in sorted(sold)]  # locked already
        else:
            rows = await self.session.scalars(
                select(ListingRow)
                .where(ListingRow.id.in_(sorted(sold)))
                .order_by(ListingRow.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
        for listing in rows:
            if (
                placed_at is not None
                and listing.pushed_at is not None
                and placed_at <= listing.pushed_at
            ):
                continue
            units = sold[listing.id]
            if listing.pushed_quantity is not None:
                listing.pushed_quantity -= units
            if listing.platform_quantity is not None:
                listing.platform_quantity -= units

    async def _move(
        self, res: StockReservationRow, state: str, quantity: int, *, reference: str, actor: str
    ) -> None:
        if res.state == CONSUMED:
            return  # shipped goods do not come back through an order status
        if res.state == state and (state != RESERVED or res.quantity == quantity):
            return
        row = await self.sku(res.sku)
        before = (row.on_hand, row.reserved)
        held = res.quantity if res.state == RESERVED else 0
        if state == RESERVED:
            row.reserved += quantity - held
            kind = "reserve" if quantity >= held else "release"
        elif state == RELEASED:
            row.reserved -= held
            kind = "release"
        else:
            row.reserved -= held
            await self._consume(row, quantity)
            kind = "consume"
        res.state = state
        res.quantity = quantity
        res.updated_at = utcnow()
        self._ledger(
            row, kind=kind, before=before, reason=f"order {kind}", reference=reference, actor=actor
        )

    async def _consume(self, row: SkuRow, quantity: int) -> None:
        """Shipped units leave the warehouse holding the most (the ERP's next absolute
        update, which knows the real warehouse, supersedes this)."""
        stmt = (
            select(StockItemRow)
            .where(StockItemRow.tenant_id == self.tenant_id, StockItemRow.sku == row.sku)
            .order_by(StockItemRow.on_hand.desc())
            .limit(1)
            .with_for_update()
        )
        stock = (await self.session.scalars(stmt)).first()
        if stock is not None:
            stock.on_hand -= quantity
            stock.updated_at = utcnow()
        row.on_hand -= quantity

    def _cached_listing(
        self, shop: ShopRow, product_id: str | None, variant_id: str | None, sku: str | None
    ) -> ListingRow | None:
        """`_listing_for_line` from the listings `prepare_orders` loaded."""
        if product_id and self._by_listing_id is not None:
            for row in self._by_listing_id.get((shop.id, product_id), ()):
                if variant_id and variant_id in (row.platform_sku_id, row.platform_variant_id):
                    return row
                if not variant_id and row.platform_sku_id == "":
                    return row
        if sku:
            found = self._by_merchant_sku.get((shop.id, sku))
            return found[0] if found else None
        return None

    async def _listing_for_line(
        self, shop: ShopRow, product_id: str | None, variant_id: str | None, sku: str | None
    ) -> ListingRow | None:
        if self._by_listing_id is not None:
            return self._cached_listing(shop, product_id, variant_id, sku)
        base = select(ListingRow).where(ListingRow.shop_id == shop.id)
        if product_id:
            by_ids = base.where(ListingRow.platform_listing_id == product_id)
            for row in (await self.session.scalars(by_ids)).all():
                if variant_id and variant_id in (row.platform_sku_id, row.platform_variant_id):
                    return row
                if not variant_id and row.platform_sku_id == "":
                    return row
        if sku:
            return (await self.session.scalars(base.where(ListingRow.merchant_sku == sku))).first()
        return None

    # -- listings ------------------------------------------------------------------------------

    async def finish(self) -> None:
        """Recompute the listings fed by every SKU touched in this unit of work and announce
        the change; runs once per unit of work, inside its transaction."""
        if not self._touched:
            return
        touched, self._touched = self._touched, {}
        await self.recompute_listings(set(touched))
        await append_events(self.session, self._stock_events(touched))

    def finish_order(self) -> list[dict[str, Any]]:
        """`finish` for one order of a batch: its `stock.changed` events (as
        `event_values`, for the caller to write in order with the order's own event); the
        listings are recomputed once for the whole batch by `finish_batch`. (Each listing's
        target depends only on the SKUs' and listings' final state, so one recompute at the
        end leaves what one per order would have.)"""
        touched, self._touched = self._touched, {}
        self._batch_touched.update(touched)
        return self._stock_events(touched)

    async def finish_batch(self) -> None:
        """After the orders of a batch: write their new reservations and ledger rows (one
        statement each; nothing reads them back, so they need not go through the session's
        unit of work one row at a time) and recompute the listings of every SKU touched."""
        new, self._new_reservations = self._new_reservations, []
        if new:
            columns = [c.key for c in StockReservationRow.__table__.columns if c.key != "id"]
            await self.session.execute(
                insert(StockReservationRow),
                [{name: getattr(res, name) for name in columns} for res in new],
            )
        ledger, self._ledger_rows = self._ledger_rows or [], None
        if ledger:
            await self.session.execute(insert(StockLedgerRow), ledger)
        touched, self._batch_touched = self._batch_touched, set()
        await self.recompute_listings(touched)

    def _stock_events(self, touched: dict[str, str]) -> list[dict[str, Any]]:
        events = []
        for sku, reason in sorted(touched.items()):
            row = self._skus[sku]
            if not row.tracked:
                continue
            events.append(
                event_values(
                    tenant_id=self.tenant_id,
                    type=STOCK_CHANGED,
                    subject_id=sku_subject(self.tenant_id, sku),
                    payload={
                        "sku": sku,
                        "on_hand": row.on_hand,
                        "reserved": row.reserved,
                        "safety_stock": row.safety_stock,
                        "available": available(row),
                        "reason": reason,
                    },
                )
            )
        return events

    async def recompute_listings(self, skus: set[str]) -> list[ListingRow]:
        """Set each affected listing's target quantity; a listing whose target differs from
        what the platform was last told becomes due for a push (latest value wins)."""
        if not skus:
            return []
        affected_ids = set(
            (
                await self.session.scalars(
                    select(ListingComponentRow.listing_id).where(
                        ListingComponentRow.tenant_id == self.tenant_id,
                        ListingComponentRow.sku.in_(sorted(skus)),
                    )
                )
            ).all()
        )
        if not affected_ids:
            return []
        affected = (
            await self.session.scalars(
                select(ListingRow)
                .where(ListingRow.id.in_(sorted(affected_ids)))
                .order_by(ListingRow.id)
                .with_for_update()
            )
        ).all()
        component_skus = {c["sku"] for row in affected for c in row.components}
        users: dict[str, list[ListingRow]] = {}
        links = (
            await self.session.execute(
                select(ListingComponentRow.sku, ListingRow)
                .join(ListingRow, ListingRow.id == ListingComponentRow.listing_id)
                .where(
                    ListingComponentRow.tenant_id == self.tenant_id,
                    ListingComponentRow.sku.in_(sorted(component_skus)),
                    ListingRow.mapping != "unmapped",
                )
            )
        ).all()
        for sku, listing in links:
            users.setdefault(sku, []).append(listing)
        shares = {
            sku: allocate(await self.sku(sku), users.get(sku, [])) for sku in sorted(component_skus)
        }
        now = utcnow()
        for listing in affected:
            if listing.mapping == "unmapped" or not listing.components:
                continue
            if not all(self._skus[c["sku"]].tracked for c in listing.components):
                continue  # the ERP has not stated stock for every part yet
            target = min(
                shares[c["sku"]].get(listing.id, 0) // max(1, int(c["quantity"]))
                for c in listing.components
            )
            set_target(listing, target, now)
        return list(affected)


def _parts(listing: ListingRow | None, sku: str | None) -> list[Component]:
    """What an order line takes from stock: the mapped listing's components (bundles
    included), else the line's own merchant SKU code."""
    if listing is not None and listing.mapping != "unmapped":
        return [Component(c["sku"], int(c["quantity"])) for c in listing.components]
    return [Component(sku, 1)] if sku else []


def set_target(listing: ListingRow, target: int, now: datetime) -> None:
    listing.target_quantity = target
    listing.updated_at = now
    if listing.pushed_quantity == target:
        listing.push_state = "idle"
        listing.next_push_at = None
    else:
        listing.push_state = "pending"
        listing.push_attempts = 0
        listing.next_push_at = now
