"""Push intake: verify, deduplicate by message id, apply, acknowledge.

A push is trusted only after the connector verified its signature with the shop's secret; a
message id seen before is acknowledged and ignored; a full order in the push is written
through the same idempotent upsert as pulls (older state never overwrites newer, so
out-of-order pushes are harmless); a thin push (an id only) makes the shop's next pull due at
once, so the order arrives within seconds without a second, unsynchronised write path.

Replays: a push whose signed timestamp is older than `push_max_age_seconds` (or more than
`FUTURE_TOLERANCE` ahead of our clock) is refused before anything is stored, and message ids
are remembered for `push_receipt_retention_days`, which the settings require to be longer. So a
captured push replayed later is either a duplicate (its receipt is still kept) or stale (its
receipt may be gone, but so is its acceptance window). Receipts older than the retention are
pruned by the sync worker (`prune_push_receipts`).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.config import get_settings
from shopbridge.connectors import Connector, PushMessage, PushRejected, ShopContext
from shopbridge.connectors.registry import connector_class
from shopbridge.core import Order
from shopbridge.core.time import utcnow
from shopbridge.logging import collect_pii, get_logger
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.errors import NotFound
from shopbridge.storage.orders import OrderRepository, upsert_orders
from shopbridge.storage.shops import open_credentials
from shopbridge.storage.tables import PushReceiptRow, ShopRow
from shopbridge.sync import state as sync_state
from shopbridge.sync.synclog import record_push

log = get_logger(__name__)


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


async def first_receipts(
    session: AsyncSession, received: list[tuple[ShopRow, PushMessage]]
) -> list[bool]:
    """`first_receipt` for many messages in one statement: for each, whether it is the first
    time its message id is recorded (a message id that occurs twice in `received` is first
    at its first occurrence only)."""
    now = utcnow()
    rows: dict[tuple[str, str], dict[str, object]] = {}
    for shop, message in received:
        key = (shop.id, message.message_id[:255])
        if key not in rows:
            rows[key] = {
                "shop_id": key[0],
                "message_id": key[1],
                "topic": message.topic[:128],
                "received_at": now,
            }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(PushReceiptRow)
        .values(list(rows.values()))
        .on_conflict_do_nothing()
        .returning(PushReceiptRow.shop_id, PushReceiptRow.message_id)
    )
    new = {(r.shop_id, r.message_id) for r in (await session.execute(stmt)).all()}
    firsts = []
    for shop, message in received:
        key = (shop.id, message.message_id[:255])
        firsts.append(key in new)
        new.discard(key)
    return firsts


class ShopChanged(Exception):
    """The shop row changed (credentials, settings, status, ...) after the push was verified
    with the copy `load_push_shop` returned; the push is verified again with the new one."""


SHOP_CACHE_SIZE = 4096
_SHOP_COLUMNS = (
    ShopRow.id,
    ShopRow.tenant_id,
    ShopRow.platform,
    ShopRow.platform_shop_id,
    ShopRow.status,
    ShopRow.credentials_sealed,
    ShopRow.settings,
    ShopRow.updated_at,
)
_shop_caches: weakref.WeakKeyDictionary[Database, OrderedDict[tuple[str, str], ShopRow]] = (
    weakref.WeakKeyDictionary()
)


def _snapshot(shop: Any) -> tuple[Any, ...]:
    """What a push's verification and write depend on (`shop` is a row or a result row of
    `_SHOP_COLUMNS`)."""
    return tuple(getattr(shop, column.key) for column in _SHOP_COLUMNS)


def _shop_cache(db: Database) -> OrderedDict[tuple[str, str], ShopRow]:
    cache = _shop_caches.get(db)
    if cache is None:
        cache = _shop_caches[db] = OrderedDict()
    return cache


async def load_push_shop(
    db: Database, platform: str, shop_id: str, *, fresh: bool = False
) -> ShopRow:
    """The connected shop a push is addressed to (`NotFound` otherwise).

    Pushes come in bursts, so the row is remembered per process instead of being read for
    each one (a read transaction per push was a large part of its cost). A remembered copy
    is never trusted for the write: the transaction that stores a push compares the shop's
    row with the copy its push was verified with (`_check_shops`) and, when the shop changed
    or was disconnected meanwhile, the push is verified again with the new row
    (`ShopChanged`) or refused (`NotFound`) as if the row had been read for it. `fresh`
    reads the row in any case."""
    cache = _shop_cache(db)
    key = (platform, shop_id)
    if not fresh:
        shop = cache.get(key)
        if shop is not None:
            cache.move_to_end(key)
            return shop
    async with db.read() as session:
        shop = (
            await session.scalars(
                select(ShopRow).where(ShopRow.id == shop_id, ShopRow.platform == platform)
            )
        ).first()
    if shop is None or shop.status == "disconnected":
        cache.pop(key, None)
        raise NotFound(f"no connected {platform} shop {shop_id}")
    cache[key] = shop
    while len(cache) > SHOP_CACHE_SIZE:
        cache.popitem(last=False)
    return shop


async def _reloaded(db: Database, shop: ShopRow) -> ShopRow | None:
    """The shop read again (`NotFound` when it is gone or disconnected), or None when it is
    unchanged."""
    current = await load_push_shop(db, shop.platform, shop.id, fresh=True)
    return None if _snapshot(current) == _snapshot(shop) else current


async def _check_shops(session: AsyncSession, batch: list[_Push]) -> list[_Push]:
    """The pushes of the batch whose shop is as it was when they were verified; the others
    fail (`NotFound` for a shop that is gone or disconnected, `ShopChanged` otherwise)."""
    ids = sorted({push.shop.id for push in batch})
    current = {
        row.id: row
        for row in (await session.execute(select(*_SHOP_COLUMNS).where(ShopRow.id.in_(ids))))
    }
    live = []
    for push in batch:
        row = current.get(push.shop.id)
        if row is None or row.status == "disconnected":
            push.error = NotFound(f"no connected {push.shop.platform} shop {push.shop.id}")
        elif _snapshot(row) != _snapshot(push.shop):
            push.error = ShopChanged(push.shop.id)
        else:
            live.append(push)
    return live


FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far ahead of our clock a push's signed timestamp may be (the platform's clock and
ours are never exactly in step); further ahead it is refused like a stale one."""


def check_fresh(
    messages: list[PushMessage],
    max_age: timedelta,
    *,
    platform: str | None = None,
    now: datetime | None = None,
) -> None:
    """Raise `PushRejected` when a message's signed timestamp is outside
    [now - max_age, now + FUTURE_TOLERANCE].

    A message without a timestamp (none of the platform's signed fields carried one) is let
    through: its message id still deduplicates it. The reason never quotes the push."""
    now = now or utcnow()
    oldest, latest = now - max_age, now + FUTURE_TOLERANCE
    for message in messages:
        at = message.occurred_at
        if at is None:
            continue
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        if not oldest <= at <= latest:
            raise PushRejected(
                "stale/replayed push: its signed timestamp is outside the accepted window",
                platform=platform,
                interface="push",
                code="stale",
            )


async def receive_push(
    db: Database,
    box: SecretBox,
    shop: ShopRow,
    headers: Mapping[str, str],
    body: bytes,
    *,
    max_age_seconds: float | None = None,
) -> PushOutcome:
    """Raises `PushRejected` (nothing stored) when the push does not verify or is
    stale/replayed. `max_age_seconds` defaults to the `push_max_age_seconds` setting.

    Buyer values seen while verifying and applying the push are kept out of this context's
    log lines (`collect_pii`)."""
    with collect_pii():
        started = time.monotonic()
        messages: list[PushMessage] = []
        try:
            for attempt in range(3):
                try:
                    messages = await _verify(shop, box, headers, body)
                    outcome = PushOutcome()
                    if messages:
                        if max_age_seconds is None:
                            max_age_seconds = get_settings().push_max_age_seconds
                        check_fresh(
                            messages, timedelta(seconds=max_age_seconds), platform=shop.platform
                        )
                        outcome = await _committer(db).apply(shop, messages)
                    break
                except (PushRejected, ShopChanged):
                    # Verified with a remembered copy of the shop that may be out of date
                    # (new credentials): with the current row, if it changed, once more.
                    if attempt == 2:
                        raise
                    current = await _reloaded(db, shop)
                    if current is None:
                        raise
                    shop = current
        except Exception as exc:
            record_push(shop, messages, started, exc)  # the sync log says why it failed
            raise
        record_push(shop, messages, started)
        return outcome


async def _verify(
    shop: ShopRow, box: SecretBox, headers: Mapping[str, str], body: bytes
) -> list[PushMessage]:
    connector = _connector(shop, box)
    try:
        return connector.verify_push(headers, body)
    finally:
        await connector.aclose()


async def prune_push_receipts(db: Database, *, older_than: datetime) -> int:
    """Forget message ids received before `older_than` (one indexed delete on
    `received_at`); returns how many went."""
    async with db.transaction() as session:
        result = await session.execute(
            delete(PushReceiptRow).where(PushReceiptRow.received_at < older_than)
        )
    return int(getattr(result, "rowcount", 0) or 0)


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


async def _apply_batch(session: AsyncSession, batch: list[_Push]) -> list[PushOutcome]:
    """What `_apply_message` does for every message of the batch, in order, with a few
    statements for the whole batch (receipts in one, orders through `upsert_orders`). All or
    nothing: it raises if anything fails, and the caller then applies message by message."""
    outcomes = [PushOutcome() for _ in batch]
    received = [(push.shop, message) for push in batch for message in push.messages]
    if not received:
        return outcomes
    firsts = iter(await first_receipts(session, received))
    upserts: list[tuple[ShopRow, Order]] = []
    applied_to: list[PushOutcome] = []
    for push, outcome in zip(batch, outcomes, strict=True):
        for message in push.messages:
            if not next(firsts):
                outcome.duplicates += 1
                continue
            outcome.accepted += 1
            if message.order is not None:
                upserts.append((push.shop, message.order))
                applied_to.append(outcome)
            elif message.platform_order_id is not None:
                state = await sync_state.ensure_state(session, push.shop)
                if state.state != sync_state.PAUSED:
                    state.next_run_at = utcnow()
                    outcome.pull_requested = True
    for outcome, result in zip(applied_to, await upsert_orders(session, upserts), strict=True):
        outcome.applied.append(result.outcome)
    return outcomes


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
    """Writes verified pushes in batches: one transaction per batch, acknowledged only after
    the batch committed.

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

    A batch is first written as a whole (`_apply_batch`: its receipts in one statement, its
    orders through `upsert_orders`, a few statements in all instead of dozens per push).
    Only if that fails (nothing of it is then committed) are its messages applied one by
    one, each in a savepoint of its own, with the per-push failure isolation described above.
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
            # Turns with the dispatcher's writes; the batch is what queued up meanwhile.
            async with self.db.write_turn():
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
        try:
            async with self.db.transaction() as session:
                live = await _check_shops(session, batch)
                outcomes = await _apply_batch(session, live)
        except Exception as exc:
            # Something in the batch failed (a push that cannot be stored, a concurrent
            # writer on PostgreSQL): nothing of it was committed. Apply the pushes one by one,
            # each message in a savepoint, so only what fails fails.
            log.info("push_batch_retried_one_by_one", pushes=len(batch), error=type(exc).__name__)
            for push in batch:
                push.error = None
            await self._write_each(batch)
            return
        for push, outcome in zip(live, outcomes, strict=True):
            push.outcome = outcome

    async def _write_each(self, batch: list[_Push]) -> None:
        async with self.db.transaction() as session:
            for push in await _check_shops(session, batch):
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
