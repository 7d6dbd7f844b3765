"""Push intake: verify, deduplicate by message id, apply, acknowledge.

A push is trusted only after the connector verified its signature with the shop's secret; a
message id seen before is acknowledged and ignored; a full order in the push is written
through the same idempotent upsert as pulls (older state never overwrites newer, so
out-of-order pushes are harmless); a thin push (an id only) makes the shop's next pull due at
once, so the order arrives within seconds without a second, unsynchronised write path.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx
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


_classes: dict[str, type[Connector]] = {}
_idle_client: httpx.AsyncClient | None = None


def _connector(shop: ShopRow, box: SecretBox) -> Connector:
    """A connector for verifying one push. Verifying never calls the platform, so every
    such connector shares one idle HTTP client instead of building its own (an SSL context
    with the CA bundle each: ~40 ms of CPU), and the class is looked up once per platform
    (an entry-point scan each: ~4 ms). Together they were most of a push's cost."""
    global _idle_client
    cls = _classes.get(shop.platform)
    if cls is None:
        cls = _classes[shop.platform] = connector_class(shop.platform)
    if _idle_client is None:
        _idle_client = httpx.AsyncClient()
    return cls(
        ShopContext(
            shop_id=shop.id,
            platform_shop_id=shop.platform_shop_id,
            credentials=open_credentials(box, shop),
            settings=dict(shop.settings or {}),
        ),
        client=_idle_client,
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
    if not messages:
        return PushOutcome()
    return await _committer(db).apply(shop, messages)


async def _apply_message(
    session: AsyncSession, shop: ShopRow, message: PushMessage, outcome: PushOutcome
) -> None:
    if not await first_receipt(session, shop, message):
        outcome.duplicates += 1
        return
    outcome.accepted += 1
    if message.order is not None:
        result = await OrderRepository(session, shop.tenant_id).upsert(shop, message.order)
        outcome.applied.append(result.outcome)
    elif message.platform_order_id is not None:
        state = await sync_state.ensure_state(session, shop)
        if state.state != sync_state.PAUSED:
            state.next_run_at = utcnow()
            outcome.pull_requested = True


@dataclass
class _Push:
    shop: ShopRow
    messages: list[PushMessage]
    done: asyncio.Future[PushOutcome]
    outcome: PushOutcome = field(default_factory=PushOutcome)
    error: BaseException | None = None


MAX_BATCH = 64
"""Pushes written in one transaction at most."""
SQLITE_WRITE_BUDGET = 1.0
SQLITE_WRITE_PAUSE = 0.11
"""On SQLite, after writing batches back to back for `SQLITE_WRITE_BUDGET` seconds, the
writer leaves the lock free for longer than SQLite's longest busy-wait sleep (100 ms)."""


class _GroupCommit:
    """Writes verified pushes in batches: one transaction per batch, each message in a
    savepoint of its own, acknowledged only after the batch committed.

    Under a burst, every request opening its own write transaction made them queue for the
    database's single writer (SQLite's busy handler polls with sleeps of up to 100 ms while
    the lock is free); one writer draining a queue keeps the lock busy instead and spends
    one BEGIN/COMMIT on many pushes. What a push guarantees is unchanged: its order change
    and outbox event commit together (in its savepoint, inside the batch's transaction), a
    message id is recorded in the same transaction, and a push is answered 2xx only after
    that transaction committed. A message that fails rolls back its own savepoint only, and
    its push fails as before (earlier messages of the same push stay applied, as they did
    with one transaction per message); a failed commit fails every push of the batch, and
    the platform sends them again. On SQLite the writer pauses briefly after a second of
    back-to-back batches, so other writers (the webhook dispatcher above all) get their turn.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.loop = asyncio.get_running_loop()
        self.pending: deque[_Push] = deque()
        self.writer: asyncio.Task[None] | None = None

    async def apply(self, shop: ShopRow, messages: list[PushMessage]) -> PushOutcome:
        push = _Push(shop, messages, self.loop.create_future())
        self.pending.append(push)
        if self.writer is None or self.writer.done():
            self.writer = self.loop.create_task(self._drain(), name="push-group-commit")
        # Shielded: a client that goes away does not take its push out of a batch.
        return await asyncio.shield(push.done)

    async def _drain(self) -> None:
        fair = self.db.dialect == "sqlite"
        holding_since = self.loop.time()
        while self.pending:
            if fair and self.loop.time() - holding_since > SQLITE_WRITE_BUDGET:
                # SQLite has no queue for its write lock: a waiting writer (the webhook
                # dispatcher, the API, a `shopbridge worker`) retries every 100 ms at most
                # and would starve behind back-to-back batches until its busy timeout.
                await asyncio.sleep(SQLITE_WRITE_PAUSE)
                holding_since = self.loop.time()
            batch = [self.pending.popleft() for _ in range(min(MAX_BATCH, len(self.pending)))]
            try:
                await self._write(batch)
            except BaseException as exc:
                for push in batch:
                    if not push.done.done():
                        push.done.set_exception(
                            exc
                            if isinstance(exc, Exception)
                            else RuntimeError("push batch interrupted")
                        )
                if not isinstance(exc, Exception):
                    raise
                continue
            for push in batch:
                if push.done.done():
                    continue
                if push.error is not None:
                    push.done.set_exception(push.error)
                else:
                    push.done.set_result(push.outcome)

    async def _write(self, batch: list[_Push]) -> None:
        async with self.db.transaction() as session:
            for push in batch:
                for message in push.messages:
                    try:
                        async with session.begin_nested():
                            await _apply_message(session, push.shop, message, push.outcome)
                    except Exception as exc:  # this push fails, the others go on
                        push.error = exc
                        break


_committers: weakref.WeakKeyDictionary[Database, _GroupCommit] = weakref.WeakKeyDictionary()


def _committer(db: Database) -> _GroupCommit:
    committer = _committers.get(db)
    if committer is None or committer.loop is not asyncio.get_running_loop():
        committer = _committers[db] = _GroupCommit(db)
    return committer
