"""Relational schema. Alembic migrations under `migrations/` are the source of truth on disk;
these declarations are what the code queries and what autogenerate compares against.

Ids are the public prefixed ULIDs (`shop_…`, `ord_…`), so keyset pagination by id is stable.
Money is stored as decimal strings: SQLite has no exact decimal type and float is forbidden.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shopbridge.storage.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONDoc = JSON().with_variant(JSONB(), "postgresql")
ID = String(40)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantRow(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKeyRow(Base):
    """API keys are stored as SHA-256 digests: the token is random with 240 bits of entropy,
    so a fast hash is enough and a leaked database yields no usable key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str | None] = mapped_column(ID, nullable=True)

    __table_args__ = (Index("ix_api_keys_tenant_id_id", "tenant_id", "id"),)


class ShopRow(Base):
    __tablename__ = "shops"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    platform_shop_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    credentials_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    credentials_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "platform", "platform_shop_id", name="uq_shops_tenant_platform_shop"
        ),
        Index("ix_shops_tenant_id_id", "tenant_id", "id"),
    )


class OrderRow(Base):
    """One platform order. `version` grows by one per real change; `platform_updated_at` is
    the platform's own update time, used to refuse regressions to older state."""

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    shop_id: Mapped[str] = mapped_column(ID, ForeignKey("shops.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(32))
    platform_order_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32))
    native_status: Mapped[str | None] = mapped_column(String(255), nullable=True)
    refund_status: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    total_amount: Mapped[str] = mapped_column(String(40))
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    platform_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    raw: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("shop_id", "platform_order_id", name="uq_orders_shop_platform_order"),
        Index("ix_orders_tenant_id_id", "tenant_id", "id"),
        Index("ix_orders_tenant_updated", "tenant_id", "updated_at", "id"),
        Index("ix_orders_tenant_status", "tenant_id", "status"),
    )


class OrderLineRow(Base):
    """Lines are also inside `orders.document`; this table exists so SKU-level queries
    (inventory reservations, reports) need not parse JSON."""

    __tablename__ = "order_lines"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    order_id: Mapped[str] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ID)
    line_no: Mapped[int] = mapped_column(Integer)
    native_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sku: Mapped[str | None] = mapped_column(String(255), nullable=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[str | None] = mapped_column(String(40), nullable=True)
    total_amount: Mapped[str | None] = mapped_column(String(40), nullable=True)
    currency: Mapped[str] = mapped_column(String(3))

    __table_args__ = (
        UniqueConstraint("order_id", "line_no", name="uq_order_lines_order_line_no"),
        Index("ix_order_lines_tenant_sku", "tenant_id", "sku"),
    )


class SyncCursorRow(Base):
    """Where incremental pull of one stream of one shop resumes; the sync engine owns it."""

    __tablename__ = "sync_cursors"

    shop_id: Mapped[str] = mapped_column(
        ID, ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxEventRow(Base):
    """Transactional outbox: an event row is inserted in the same transaction as the state
    change it describes, so a crash can lose neither. `seq` orders events for the feed."""

    __tablename__ = "outbox_events"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(ID, unique=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    shop_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    subject_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Feed position, assigned after commit by the single sequencer (see
    # `shopbridge.delivery.sequencer`): `seq` comes from the insert and may commit out of
    # order on PostgreSQL, `position` is handed out in commit order, so a feed cursor never
    # skips an event that committed late.
    position: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)

    __table_args__ = (
        Index("ix_outbox_events_tenant_seq", "tenant_id", "seq"),
        Index("ix_outbox_events_undispatched", "dispatched_at", "seq"),
        Index("ix_outbox_events_tenant_position", "tenant_id", "position"),
        Index("ix_outbox_events_subject", "subject_id", "position"),
    )


class ShopSyncStateRow(Base):
    """The sync engine's bookkeeping per shop: who holds the lease, when to run next, and the
    last outcome with its reason (what the operator sees at `GET /v1/shops/{id}/sync`)."""

    __tablename__ = "shop_sync_state"

    shop_id: Mapped[str] = mapped_column(
        ID, ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ID)
    state: Mapped[str] = mapped_column(String(16))
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    orders_seen: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), default=0
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_shop_sync_state_due", "next_run_at"),)


class UnmappedPayloadRow(Base):
    """A native payload the connector could not map, kept with its reason so nothing is lost
    and the operator can see (and later replay) it; it never blocks the other orders."""

    __tablename__ = "unmapped_payloads"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(ID)
    shop_id: Mapped[str] = mapped_column(ID, ForeignKey("shops.id", ondelete="CASCADE"))
    platform_order_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[Any] = mapped_column(JSONDoc, nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    occurrences: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index("ix_unmapped_payloads_shop_order", "shop_id", "platform_order_id"),)


class PushReceiptRow(Base):
    """Inbound push message ids already accepted, per shop: platforms redeliver and duplicate
    pushes, and a replayed push must change nothing."""

    __tablename__ = "push_receipts"

    shop_id: Mapped[str] = mapped_column(
        ID, ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    message_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    topic: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_push_receipts_received", "received_at"),)


class CounterRow(Base):
    """Named monotonic counters. Updating a row locks it until commit, which is what makes
    the feed sequencer single-file across workers on both backends."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookEndpointRow(Base):
    """Where a tenant's events are POSTed. Signing secrets are sealed at rest; during a
    rotation the previous secret keeps signing until `previous_secret_expires_at`."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(JSONDoc)
    shop_ids: Mapped[list[str]] = mapped_column(JSONDoc)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    pii_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_webhook_endpoints_tenant_id_id", "tenant_id", "id"),)


class WebhookDeliveryRow(Base):
    """One event owed to one endpoint. `ordering_key` (the order id) plus `position` give the
    per-order delivery order: a delivery waits while an earlier one with the same key is still
    pending. A lease (`lease_owner`, `lease_expires_at`) marks the one in flight."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(
        ID, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[str] = mapped_column(ID)
    position: Mapped[int] = mapped_column(BigInteger)
    ordering_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_response: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "ordering_key", "state", "position"),
        Index("ix_webhook_deliveries_tenant_endpoint", "tenant_id", "endpoint_id", "state"),
        Index("ix_webhook_deliveries_event", "event_id"),
    )


class WebhookAttemptRow(Base):
    """Every HTTP attempt, for the operator's "why is this endpoint failing" view."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    delivery_id: Mapped[str] = mapped_column(
        ID, ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    tenant_id: Mapped[str] = mapped_column(ID)
    endpoint_id: Mapped[str] = mapped_column(ID)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_excerpt: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_webhook_attempts_delivery", "delivery_id", "id"),
        Index("ix_webhook_attempts_endpoint", "endpoint_id", "attempted_at"),
    )


class IdempotencyKeyRow(Base):
    """The stored answer to a write request sent with an `Idempotency-Key`. Keys are scoped to
    the API key that sent them; the response body is sealed because it may hold secrets."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # in_progress | done
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONDoc, nullable=True)
    response_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_idempotency_keys_expires", "expires_at"),)


# --- inventory -------------------------------------------------------------------------


class StockItemRow(Base):
    """On-hand quantity of one SKU in one warehouse, as the ERP last stated it. `source_version`
    orders absolute updates (the ERP's version number, or its timestamp in microseconds): an
    update older than the stored one is refused, so a late retry never rolls stock back."""

    __tablename__ = "stock_items"

    tenant_id: Mapped[str] = mapped_column(
        ID, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(String(255), primary_key=True)
    warehouse: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer)
    source_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SkuRow(Base):
    """Per-SKU totals and rules. `on_hand` and `reserved` are kept in step with stock_items
    and reservations in the same transactions, so available-to-promise is one row read."""

    __tablename__ = "skus"

    tenant_id: Mapped[str] = mapped_column(
        ID, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(String(255), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    safety_stock: Mapped[int] = mapped_column(Integer, default=0)
    low_stock_threshold: Mapped[int | None] = mapped_column(Integer, nullable=True)
    allocation: Mapped[str] = mapped_column(String(16), default="shared")  # shared | split
    shop_caps: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    # False while the SKU is only known from orders: the ERP has not stated its stock yet, so
    # there is nothing to push and no `stock.changed` to announce (reservations still count).
    tracked: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StockReservationRow(Base):
    """Units of a SKU held by one order line: reserved at once when the order appears,
    released when it is cancelled, consumed (taken from on-hand) when it ships."""

    __tablename__ = "stock_reservations"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    shop_id: Mapped[str] = mapped_column(ID)
    line_no: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(255))
    quantity: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # reserved | released | consumed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("order_id", "line_no", "sku", name="uq_stock_reservations_line_sku"),
        Index("ix_stock_reservations_tenant_sku", "tenant_id", "sku", "state"),
    )


class StockLedgerRow(Base):
    """Every change of a SKU's numbers, with who and why, so the stock of any SKU at any time
    can be explained (and recomputed)."""

    __tablename__ = "stock_ledger"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(255))
    warehouse: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # set | adjust | reserve | release | consume
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference: Mapped[str | None] = mapped_column(String(255), nullable=True)
    on_hand_before: Mapped[int] = mapped_column(Integer)
    on_hand_after: Mapped[int] = mapped_column(Integer)
    reserved_before: Mapped[int] = mapped_column(Integer)
    reserved_after: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_stock_ledger_tenant_sku", "tenant_id", "sku", "id"),)


class ListingRow(Base):
    """One sellable unit on a platform (a Shopify variant, a Taobao item SKU) and what it is
    made of in SKUs (`components`: one entry normally, several for a bundle). The push state
    records what the platform was last told and why a push failed."""

    __tablename__ = "listings"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    shop_id: Mapped[str] = mapped_column(ID, ForeignKey("shops.id", ondelete="CASCADE"))
    platform_listing_id: Mapped[str] = mapped_column(String(255))
    platform_sku_id: Mapped[str] = mapped_column(String(255))  # "" when the listing has none
    # How order lines name it, when that differs from the stock address (Shopify variant id).
    platform_variant_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    merchant_sku: Mapped[str | None] = mapped_column(String(255), nullable=True)
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    mapping: Mapped[str] = mapped_column(String(16))  # auto | manual | unmapped
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    platform_quantity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    target_quantity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pushed_quantity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    push_state: Mapped[str] = mapped_column(String(16))  # idle | pending | failed
    push_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint(
            "shop_id", "platform_listing_id", "platform_sku_id", name="uq_listings_platform_ids"
        ),
        Index("ix_listings_tenant_id_id", "tenant_id", "id"),
        Index("ix_listings_tenant_merchant_sku", "tenant_id", "merchant_sku"),
        Index("ix_listings_push_due", "push_state", "next_push_at"),
    )


class ListingComponentRow(Base):
    """SKU → listings index of `listings.components`, so a stock change finds the listings to
    recompute without scanning JSON."""

    __tablename__ = "listing_components"

    listing_id: Mapped[str] = mapped_column(
        ID, ForeignKey("listings.id", ondelete="CASCADE"), primary_key=True
    )
    sku: Mapped[str] = mapped_column(String(255), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    quantity: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_listing_components_tenant_sku", "tenant_id", "sku"),)


# --- logistics -------------------------------------------------------------------------


class ShipmentRow(Base):
    """A shipment the ERP/WMS made, and its confirmation on the platform. Unique per (order,
    carrier, tracking number): posting the same shipment twice is the same shipment."""

    __tablename__ = "shipments"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    shop_id: Mapped[str] = mapped_column(ID)
    carrier_code: Mapped[str] = mapped_column(String(32))
    carrier_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tracking_number: Mapped[str] = mapped_column(String(64))
    tracking_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc)
    state: Mapped[str] = mapped_column(String(16))  # pending | confirmed | rejected
    platform_shipment_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    tracking_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint(
            "order_id", "carrier_code", "tracking_number", name="uq_shipments_order_tracking"
        ),
        Index("ix_shipments_tenant_id_id", "tenant_id", "id"),
        Index("ix_shipments_due", "state", "next_attempt_at"),
    )


class TrackingEventRow(Base):
    """One carrier scan or status of a shipment, from the ERP or a carrier feed."""

    __tablename__ = "tracking_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    shipment_id: Mapped[str] = mapped_column(ID, ForeignKey("shipments.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(ID)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    location: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint(
            "shipment_id", "occurred_at", "status", name="uq_tracking_events_shipment_moment"
        ),
        Index("ix_tracking_events_shipment", "shipment_id", "occurred_at"),
    )


class DataKeyRow(Base):
    """Data keys of the buyer-data vault (envelope encryption): each key is random, stored
    wrapped by the master key (`SHOPBRIDGE_SECRET_KEY` / key file), so rotating the master
    key re-wraps a few rows and rotating a data key re-encrypts the values sealed with it.
    `purpose` is `pii` (encrypts values; the newest unretired one seals) or `search` (keys
    the hashes that make phone/name searchable without plaintext)."""

    __tablename__ = "data_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_data_keys_purpose_created", "purpose", "created_at"),)


class OrderSearchRow(Base):
    """Keyed hashes (HMAC-SHA256 with the vault's search key) of an order's buyer phone,
    name and e-mail: equality search without storing or comparing plaintext."""

    __tablename__ = "order_search"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(ID)
    order_id: Mapped[str] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_order_search_lookup", "tenant_id", "field", "digest"),
        Index("ix_order_search_order", "order_id"),
    )


class AuditRow(Base):
    """Who saw or decrypted buyer data, when, through what, and why. Written in the same
    transaction as nothing else on purpose: an audit record must exist even when the
    request that revealed the data fails afterwards."""

    __tablename__ = "audit_log"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    actor_type: Mapped[str] = mapped_column(String(24))  # api_key | webhook_endpoint | cli
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))  # reveal | raw | decrypt | waybill
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    fields: Mapped[list[str]] = mapped_column(JSONDoc)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    via: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_audit_log_tenant_id_id", "tenant_id", "id"),
        Index("ix_audit_log_tenant_subject", "tenant_id", "subject_id"),
        Index("ix_audit_log_created", "created_at"),
    )


class WaybillRow(Base):
    """An electronic waybill obtained from the platform's logistics service (privacy
    shipping). `print_data` is the platform's encrypted print payload, opaque to ShopBridge
    and to the WMS: only the platform's cloud-print component renders the receiver."""

    __tablename__ = "waybills"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID, ForeignKey("tenants.id", ondelete="CASCADE"))
    order_id: Mapped[str] = mapped_column(ID, ForeignKey("orders.id", ondelete="CASCADE"))
    shop_id: Mapped[str] = mapped_column(ID)
    carrier_code: Mapped[str] = mapped_column(String(32))
    platform_carrier_code: Mapped[str] = mapped_column(String(64))
    waybill_number: Mapped[str] = mapped_column(String(64))
    parent_waybill_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    print_data: Mapped[str] = mapped_column(Text)
    print_format: Mapped[str] = mapped_column(String(32))
    package_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # issued | cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("order_id", "package_id", name="uq_waybills_order_package"),
        Index("ix_waybills_tenant_id_id", "tenant_id", "id"),
        Index("ix_waybills_tenant_order", "tenant_id", "order_id"),
    )


class SyncLogRow(Base):
    """One platform call or inbound push, for the operator's "which interface is failing,
    why, and what do I do" (`GET /v1/sync-log`). Holds no buyer data: codes, the platform's
    message scrubbed of personal values and truncated, and our explanation.

    Written in batches by a background writer (`shopbridge.sync.synclog`), pruned after
    `sync_log_retention_days`. No foreign keys on purpose: a batch must never fail because
    a shop or tenant it mentions went away meanwhile, and rows outlive nothing for long."""

    __tablename__ = "sync_log"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ID)
    shop_id: Mapped[str] = mapped_column(ID)
    platform: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))  # call | push
    interface: Mapped[str] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(24))
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    code: Mapped[str | None] = mapped_column(String(128), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    explanation: Mapped[str | None] = mapped_column(Text, nullable=True)
    action: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_sync_log_tenant_id_id", "tenant_id", "id"),
        Index("ix_sync_log_tenant_shop_id", "tenant_id", "shop_id", "id"),
        Index("ix_sync_log_created", "created_at"),
    )
