"""push receipts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 18:22:07.526848
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopbridge.storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "push_receipts",
        sa.Column("shop_id", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column(
            "received_at", shopbridge.storage.types.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"],
            ["shops.id"],
            name=op.f("fk_push_receipts_shop_id_shops"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("shop_id", "message_id", name=op.f("pk_push_receipts")),
    )
    with op.batch_alter_table("push_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_push_receipts_received", ["received_at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("push_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_push_receipts_received")

    op.drop_table("push_receipts")
