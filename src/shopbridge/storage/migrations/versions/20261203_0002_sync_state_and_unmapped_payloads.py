"""sync state and unmapped payloads

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 18:09:04.862785
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shopbridge.storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "shop_sync_state",
        sa.Column("shop_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column(
            "lease_expires_at", shopbridge.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "next_run_at", shopbridge.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_attempt_at", shopbridge.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "last_success_at", shopbridge.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_code", sa.String(length=64), nullable=True),
        sa.Column(
            "last_error_at", shopbridge.storage.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=True),
        sa.Column(
            "orders_seen", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "updated_at", shopbridge.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_shop_sync_state_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_shop_sync_state")),
    )
    with op.batch_alter_table("shop_sync_state", schema=None) as batch_op:
        batch_op.create_index("ix_shop_sync_state_due", ["next_run_at"], unique=False)

    op.create_table(
        "unmapped_payloads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("shop_id", sa.String(length=40), nullable=False),
        sa.Column("platform_order_id", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "raw",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "first_seen_at", shopbridge.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "last_seen_at", shopbridge.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_unmapped_payloads_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unmapped_payloads")),
    )
    with op.batch_alter_table("unmapped_payloads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_unmapped_payloads_shop_order", ["shop_id", "platform_order_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("unmapped_payloads", schema=None) as batch_op:
        batch_op.drop_index("ix_unmapped_payloads_shop_order")

    op.drop_table("unmapped_payloads")
    with op.batch_alter_table("shop_sync_state", schema=None) as batch_op:
        batch_op.drop_index("ix_shop_sync_state_due")

    op.drop_table("shop_sync_state")
