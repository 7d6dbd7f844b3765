"""The sync log: every platform call and inbound push, with its outcome and, for failures,
the platform's code and message and a plain explanation with the action to take.

Where records come from:

- **Calls.** Connectors send every request through `connectors.transport.Transport`, which
  hands a `CallRecord` to its observer. `sync.connect.build_connector` installs
  `SYNC_LOG.observer(tenant, shop)` on every connector it builds (sync, stock pushes,
  shipments, waybills, decrypts), so no connector and no call site has to remember it, and
  connectors never import storage.
- **Pushes.** `sync.push.receive_push` records each inbound push (accepted or refused).

Why it cannot slow the hot path or fill the disk with buyer data:

- Recording is in memory only: build a small record, update two cached metric children,
  append to a bounded deque (a few microseconds; see docs/operations.md). A background
  writer (`SyncLog.writing`) flushes the buffer every second in batches, one INSERT per
  batch, outside any request or sync transaction.
- The buffer is bounded: while the database is down it keeps the newest `capacity` records
  and drops the oldest, counting them in `shopbridge_sync_log_dropped_total`; a batch that
  failed to write goes back to the front and is retried.
- Messages are scrubbed where they are recorded, in the context of the work that produced
  them, so the buyer values that work saw (`logging.collect_pii`) are removed along with
  phones, e-mails and tokens (`logging.scrub`), then truncated. Successes carry no message.

The buffer is per process. A process flushes through the `Database` its writer was started
with: the API's (started with the sync-log routes) and the sync worker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy.exc import DataError, IntegrityError

from shopbridge.connectors.base import PushMessage
from shopbridge.connectors.errors import ConnectorError
from shopbridge.connectors.explain import explain, outcome_of
from shopbridge.connectors.transport import CallObserver, CallRecord
from shopbridge.core.ids import new_id
from shopbridge.logging import get_logger, scrub
from shopbridge.storage.db import Database
from shopbridge.storage.scoping import unscoped
from shopbridge.storage.synclog import insert_batch
from shopbridge.storage.tables import ShopRow
from shopbridge.sync.platform_metrics import (
    PLATFORM_PUSHES,
    SYNC_LOG_BUFFERED,
    SYNC_LOG_DROPPED,
    SYNC_LOG_FLUSH_FAILURES,
    observe_call,
)

__all__ = [
    "CALL",
    "MAX_MESSAGE",
    "PUSH",
    "SYNC_LOG",
    "SyncLog",
    "SyncLogEntry",
    "push_interface",
    "record_push",
]

log = get_logger(__name__)

CALL: Final = "call"
PUSH: Final = "push"
MAX_MESSAGE: Final = 500
"""Characters of the platform's message kept (after scrubbing)."""
MAX_INTERFACE: Final = 128
MAX_CODE: Final = 128
DEFAULT_CAPACITY: Final = 20_000
DEFAULT_BATCH: Final = 500
DEFAULT_INTERVAL: Final = 1.0


@dataclass(frozen=True, slots=True)
class SyncLogEntry:
    """One record waiting to be written; already free of buyer data."""

    id: str
    tenant_id: str
    shop_id: str
    platform: str
    direction: str
    interface: str
    outcome: str
    http_status: int | None
    code: str | None
    message: str | None
    explanation: str | None
    action: str | None
    duration_ms: int
    at: float
    """`time.time()` when recorded."""

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "shop_id": self.shop_id,
            "platform": self.platform,
            "direction": self.direction,
            "interface": self.interface,
            "outcome": self.outcome,
            "http_status": self.http_status,
            "code": self.code,
            "message": self.message,
            "explanation": self.explanation,
            "action": self.action,
            "duration_ms": self.duration_ms,
            "created_at": datetime.fromtimestamp(self.at, UTC),
        }


def _clean(message: str | None) -> str | None:
    """The platform's words without buyer data or secrets, bounded. Scrubbed before
    truncation, so a phone number cut in half cannot escape the patterns."""
    if not message:
        return None
    text = " ".join(scrub(message).split())
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    return text or None


def _short(value: str | None, size: int) -> str | None:
    return value[:size] if value else value


class _Writer:
    def __init__(self, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        self.task = task
        self.stop = stop
        self.users = 1


class SyncLog:
    """The process's sync-log buffer and its writers."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, batch_size: int = DEFAULT_BATCH) -> None:
        self.capacity = capacity
        self.batch_size = batch_size
        # One buffer per event loop: a writer drains only what its own loop recorded. A
        # server process has one loop and one database; tests run several servers, each on
        # its own loop with its own database, and records must not cross between them.
        self._buffers: dict[int, deque[SyncLogEntry]] = {}
        self._lock = threading.Lock()
        self._writers: dict[tuple[int, int], _Writer] = {}
        self._flushing: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __len__(self) -> int:
        return sum(len(buffer) for buffer in self._buffers.values())

    @staticmethod
    def _loop_key() -> int:
        try:
            return id(asyncio.get_running_loop())
        except RuntimeError:
            return 0

    @property
    def _buffer(self) -> deque[SyncLogEntry]:
        """This event loop's buffer."""
        return self._buffers.setdefault(self._loop_key(), deque())

    @_buffer.setter
    def _buffer(self, value: deque[SyncLogEntry]) -> None:
        self._buffers[self._loop_key()] = value

    # recording (hot path) ---------------------------------------------------------------

    def observer(self, tenant_id: str, shop_id: str) -> CallObserver:
        """The `CallObserver` for one shop's connector."""

        def observe(record: CallRecord) -> None:
            self.record_call(tenant_id, shop_id, record)

        return observe

    def record_call(self, tenant_id: str, shop_id: str, record: CallRecord) -> None:
        """Record one platform call and count it in the platform-call metrics."""
        outcome = outcome_of(record.outcome, record.code)
        explained = explain(record.platform, outcome, record.code)
        observe_call(
            record.platform, record.interface, outcome, explained.code_label, record.duration
        )
        if explained.explanation is None:
            message = explanation = action = None
        else:
            message = _clean(record.message)
            explanation = explained.explanation.explanation
            action = explained.explanation.action
        self._add(
            SyncLogEntry(
                new_id("slog"),
                tenant_id,
                shop_id,
                record.platform,
                CALL,
                record.interface[:MAX_INTERFACE],
                outcome,
                record.status,
                _short(record.code, MAX_CODE),
                message,
                explanation,
                action,
                round(record.duration * 1000),
                time.time(),
            )
        )

    def record_push(
        self,
        tenant_id: str,
        shop_id: str,
        platform: str,
        *,
        interface: str,
        duration: float,
        error: BaseException | None = None,
    ) -> None:
        """Record one inbound push: accepted (`error` None), refused (`PushRejected`), or
        failed while being stored (any other exception: only its type is kept)."""
        code: str | None = None
        message: str | None = None
        if error is None:
            outcome = "ok"
        elif isinstance(error, ConnectorError):
            outcome = outcome_of(error)
            code = error.code
            message = _clean(error.platform_message or error.message)
            interface = interface if interface != PUSH else (error.interface or PUSH)
        else:
            outcome = "error"
            message = f"{type(error).__name__} while storing the push; the platform retries it"
        explained = explain(platform, outcome, code)
        PLATFORM_PUSHES.labels(platform, outcome, explained.code_label).inc()
        details = explained.explanation
        self._add(
            SyncLogEntry(
                new_id("slog"),
                tenant_id,
                shop_id,
                platform,
                PUSH,
                interface[:MAX_INTERFACE],
                outcome,
                None,
                _short(code, MAX_CODE),
                message,
                details.explanation if details else None,
                details.action if details else None,
                round(duration * 1000),
                time.time(),
            )
        )

    def _add(self, entry: SyncLogEntry) -> None:
        with self._lock:
            full = len(self._buffer) >= self.capacity
            if full:
                self._buffer.popleft()
            self._buffer.append(entry)
        if full:
            SYNC_LOG_DROPPED.inc()

    # writing (background) ---------------------------------------------------------------

    def _take(self) -> list[SyncLogEntry]:
        with self._lock:
            count = min(self.batch_size, len(self._buffer))
            return [self._buffer.popleft() for _ in range(count)]

    def _requeue(self, batch: Iterable[SyncLogEntry]) -> None:
        """Put a batch that failed to write back in front, oldest dropped past capacity."""
        with self._lock:
            combined = [*batch, *self._buffer]
            excess = max(0, len(combined) - self.capacity)
            self._buffer = deque(combined[excess:])
        if excess:
            SYNC_LOG_DROPPED.inc(excess)

    async def flush(self, db: Database) -> int:
        """Write everything buffered now, one INSERT per batch; returns the records written.
        A batch the database refuses as such (a constraint or a value it cannot store) is
        dropped and counted; any other failure puts the batch back and is raised.

        Flushes of one event loop take turns, so a flush returns only after batches another
        flush (the background writer) had already taken are written too: what was recorded
        before the call is then readable."""
        loop = asyncio.get_running_loop()
        lock = self._flushing.get(loop)
        if lock is None:
            lock = self._flushing[loop] = asyncio.Lock()
        async with lock:
            return await self._flush(db)

    async def _flush(self, db: Database) -> int:
        written = 0
        while True:
            batch = self._take()
            if not batch:
                return written
            try:
                # The writer serves every tenant: never narrowed to a request's tenant.
                with unscoped():
                    async with db.transaction() as session:
                        await insert_batch(session, [entry.row() for entry in batch])
            except (IntegrityError, DataError) as exc:
                SYNC_LOG_DROPPED.inc(len(batch))
                log.error("sync_log_batch_dropped", size=len(batch), error_type=type(exc).__name__)
                continue
            except BaseException:
                self._requeue(batch)
                SYNC_LOG_FLUSH_FAILURES.inc()
                raise
            written += len(batch)

    @asynccontextmanager
    async def writing(
        self, db: Database, *, interval: float = DEFAULT_INTERVAL
    ) -> AsyncIterator[None]:
        """Flush to `db` in the background while the block runs, and once more at its end.
        Nested or concurrent blocks for the same database on the same event loop share one
        writer (the API running the sync worker in-process starts it twice)."""
        loop = asyncio.get_running_loop()
        key = (id(db), id(loop))
        writer = self._writers.get(key)
        if writer is not None and not writer.task.done():
            writer.users += 1
        else:
            stop = asyncio.Event()
            with unscoped():  # the task must not inherit a request's tenant
                task = loop.create_task(self._run(db, stop, interval), name="sync-log-writer")
            writer = self._writers[key] = _Writer(task, stop)
        try:
            yield
        finally:
            writer.users -= 1
            if writer.users == 0:
                writer.stop.set()
                await writer.task
                if self._writers.get(key) is writer:
                    del self._writers[key]

    async def _run(self, db: Database, stop: asyncio.Event, interval: float) -> None:
        failing = False
        while True:
            stopping = stop.is_set()
            try:
                await self.flush(db)
            except asyncio.CancelledError:
                return
            except Exception as exc:
                if not failing:  # once per outage, not once per second
                    log.warning(
                        "sync_log_flush_failed",
                        error_type=type(exc).__name__,
                        buffered=len(self._buffer),
                    )
                failing = True
            else:
                if failing:
                    log.info("sync_log_flush_recovered")
                failing = False
            if stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    def clear(self) -> None:
        """Forget everything buffered (tests)."""
        with self._lock:
            self._buffers.clear()


SYNC_LOG: Final = SyncLog()
"""The process's sync log."""

SYNC_LOG_BUFFERED.set_function(lambda: len(SYNC_LOG))


def push_interface(messages: Sequence[PushMessage]) -> str:
    """The interface of an inbound push as the platform names it: its topic(s)
    (`orders/updated`, `taobao_trade_TradeCreate`), or `push` when none is known yet."""
    topics = sorted({m.topic for m in messages if m.topic})
    return ",".join(topics)[:MAX_INTERFACE] if topics else PUSH


def record_push(
    shop: ShopRow,
    messages: Sequence[PushMessage],
    started: float,
    error: BaseException | None = None,
) -> None:
    """Record one inbound push of `shop` in the process's sync log (`started`: the
    `time.monotonic()` when it arrived)."""
    SYNC_LOG.record_push(
        shop.tenant_id,
        shop.id,
        shop.platform,
        interface=push_interface(messages),
        duration=time.monotonic() - started,
        error=error,
    )
