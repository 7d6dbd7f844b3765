"""Push intake: verify, deduplicate by message id, apply, acknowledge.

A push is trusted only after the connector verified its signature with the shop's secret; a
message id seen before is acknowledged and ignored; a full order in the push is written
through the same idempotent upsert as pulls (older state never overwrites newer, so
out-of-order pushes are harmless); a thin push (an id only) makes the shop's next pull due at
once, so the order arrives within seconds without a second, unsynchronised write path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.connectors import Connector, PushMessage, ShopContext
from shopbridge.connectors.registry import connector_class
from shopbridge.core.time import utcnow
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.errors import NotFound
from shopbridge.storage.orders import OrderRepository
from shopbridge.storage.shops import open_credentials
from shopbridge.storage.tables import PushReceiptRow, ShopRow
from shopbridge.sync import state as sync_state


@dataclass
class PushOutcome:
    accepted: int = 0
    duplicates: int = 0
    applied: list[str] = field(default_factory=list)
    """Outcomes of upserts (`created`, `updated`, `unchanged`, `stale`)."""
    pull_requested: bool = False


def _connector(shop: ShopRow, box: SecretBox) -> Connector:
    return connector_class(shop.platform)(
        ShopContext(
            shop_id=shop.id,
            platform_shop_id=shop.platform_shop_id,
            credentials=open_credentials(box, shop),
            settings=dict(shop.settings or {}),
        )
    )


async def first_receipt(session: AsyncSession, shop: ShopRow, message: PushMessage) -> bool:
    """Record the message id; False when it was seen before (a redelivery or a duplicate).
    Called inside the transaction that applies the message, so both commit together."""
    try:
        async with session.begin_nested():
            session.add(
                PushReceiptRow(
                    shop_id=shop.id,
                    message_id=message.message_id[:255],
                    topic=message.topic[:128],
                    received_at=utcnow(),
                )
            )
            await session.flush()
    except IntegrityError:
        return False
    return True


async def load_push_shop(db: Database, platform: str, shop_id: str) -> ShopRow:
    async with db.read() as session:
        shop = (
            await session.scalars(
                select(ShopRow).where(ShopRow.id == shop_id, ShopRow.platform == platform)
            )
        ).first()
    if shop is None or shop.status == "disconnected":
        raise NotFound(f"no connected {platform} shop {shop_id}")
    return shop


async def receive_push(
    db: Database, box: SecretBox, shop: ShopRow, headers: Mapping[str, str], body: bytes
) -> PushOutcome:
    """Raises `PushRejected` (nothing stored) when the push does not verify."""
    connector = _connector(shop, box)
    try:
        messages = connector.verify_push(headers, body)
    finally:
        await connector.aclose()
    outcome = PushOutcome()
    for message in messages:
        async with db.transaction() as session:
            if not await first_receipt(session, shop, message):
                outcome.duplicates += 1
                continue
            outcome.accepted += 1
            if message.order is not None:
                result = await OrderRepository(session, shop.tenant_id).upsert(shop, message.order)
                outcome.applied.append(result.outcome)
            elif message.platform_order_id is not None:
                state = await sync_state.ensure_state(session, shop)
                if state.state != sync_state.PAUSED:
                    state.next_run_at = utcnow()
                    outcome.pull_requested = True
    return outcome
