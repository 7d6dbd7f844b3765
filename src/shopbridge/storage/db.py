"""Engine and session factory for SQLite (embedded default) and PostgreSQL (scale).

SQLite runs in WAL mode with foreign keys on and a busy timeout, so the API and background
workers of one process can read while one of them writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shopbridge.core import fastjson
from shopbridge.storage import scoping, sqlite_link

# Every ORM session of the process narrows its statements to the tenant bound by the API
# request, if any (see `shopbridge.storage.scoping`). Registered once, on the Session class.
scoping.install()


class UnsupportedDatabase(ValueError):
    """The URL names a backend ShopBridge does not run on."""


SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Pages read through a shared memory map instead of copied per connection, and a 16 MiB
    # page cache per connection (default 2 MiB): the random keys of the search-digest and
    # other indexes stop falling out of it at peak (`bench peak`: ~3 % of server CPU).
    cursor.execute("PRAGMA cache_size=-16384")
    cursor.execute("PRAGMA mmap_size=268435456")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _sqlite_no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module opens and commits transactions on its own schedule, which breaks
    # SAVEPOINTs and can commit half a unit of work; SQLAlchemy must emit BEGIN itself.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Connection) -> None:
    """Write transactions take the write lock up front (BEGIN IMMEDIATE): a read-then-write
    unit of work (upserts) then waits for the lock instead of failing with SQLITE_BUSY halfway.
    Read-only sessions (`Database.read`) start a deferred transaction and never block writers."""
    if conn.get_execution_options().get("sqlite_read_only"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise UnsupportedDatabase(
            f"unsupported database driver {parsed.drivername!r}; use one of "
            + ", ".join(f"{d}://" for d in SUPPORTED_DRIVERS)
        )
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # What SQLAlchemy's aiosqlite driver would pass to `sqlite3.connect`, given to a
        # connection whose statements make one trip to its thread (`sqlite_link`).
        dialect = parsed.get_dialect()()
        (database,), connect_args = dialect.create_connect_args(parsed)
        connect_args["timeout"] = 30

        async def connect() -> sqlite_link.OneTripConnection:
            return await sqlite_link.open_connection(database, **connect_args)

        engine = create_async_engine(
            url,
            echo=echo,
            async_creator=connect,
            json_serializer=fastjson.dumps_str,
            json_deserializer=fastjson.loads,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_no_driver_transactions)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        json_serializer=fastjson.dumps_str,
        json_deserializer=fastjson.loads,
    )


class Database:
    """Owns the engine; hands out sessions whose transaction commits or rolls back as a unit."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = create_engine(url, echo=echo)
        # Copied into every new session's `info`: how the buyer-data vault reaches the
        # repositories (see `shopbridge.storage.vault.attach_vault`).
        self.session_info: dict[str, Any] = {}
        self.sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, info=self.session_info
        )
        self.read_sessions = async_sessionmaker(
            self.engine.execution_options(sqlite_read_only=True),
            expire_on_commit=False,
            info=self.session_info,
        )

        self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._turn_holder: asyncio.Task[Any] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def write_turn(self) -> AsyncIterator[None]:
        """Take turns, first come first served, with this process's other busy writers
        (the push intake's group commit and the webhook dispatcher) before opening a write
        transaction on SQLite.

        SQLite queues nothing for its write lock: a writer that finds it taken sleeps in its
        busy handler (up to 100 ms at a time) and under a steady stream of push batches kept
        missing the short gaps between them, so deliveries fell behind intake. Held around
        the whole transaction (or several: the task holding the turn may take it again, and
        tasks it starts meanwhile do not share it); PostgreSQL (row locks) needs no turns."""
        task = asyncio.current_task()
        if self.dialect != "sqlite" or (task is not None and self._turn_holder is task):
            yield  # PostgreSQL, or this task's turn already (a nested write)
            return
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:
            self._turns = (loop, asyncio.Lock())
        async with self._turns[1]:
            self._turn_holder = task
            try:
                yield
            finally:
                self._turn_holder = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: everything inside commits together or not at all."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work: a consistent snapshot that never waits for writers."""
        async with self.read_sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
