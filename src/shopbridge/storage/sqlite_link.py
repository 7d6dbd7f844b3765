"""SQLite statements in one trip to the connection's thread, not four.

aiosqlite runs every call on a sqlite3 connection in a thread of its own, and SQLAlchemy's
async SQLite driver makes four such calls per statement: open a cursor, execute, fetch the
rows, close the cursor. Each call is a hand-over between the event loop and that thread
(a queue put, a wake-up, a `call_soon_threadsafe` back), and on a lightly loaded host each
hand-over costs more CPU than a small statement itself: at 50 orders/s the server made 77
of them per order, and 53 % were cursor opens and closes (`bench peak --rate 50`, counted
with a patched aiosqlite; see docs/performance.md).

`OneTripConnection` is an aiosqlite connection whose cursors do the four steps in a single
call: the statement runs, its rows (if any) are read and the sqlite3 cursor is closed in the
thread, and the cursor handed to SQLAlchemy serves what was read. Everything else (the
thread, commit, rollback, close, error types) is aiosqlite's own. Rows are read in full at
execute time, which is what SQLAlchemy's buffered cursor did anyway; nothing in ShopBridge
streams results on SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, cast

import aiosqlite
from aiosqlite.context import contextmanager

_Description = tuple[tuple[Any, ...], ...] | None


def _run(
    connection: sqlite3.Connection, many: bool, sql: str, parameters: Any
) -> tuple[_Description, int, int | None, list[Any]]:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        # After the fetch: for UPDATE … RETURNING, sqlite3 counts rows as they are read.
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor:
    """The part of aiosqlite's cursor SQLAlchemy uses, one thread hand-over per statement."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description: _Description = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []
        self._next = 0

    async def _trip(self, many: bool, sql: str, parameters: Any) -> OneTripCursor:
        self._rows, self._next = [], 0
        in_thread = cast(Callable[..., Awaitable[Any]], self._connection._execute)
        outcome = await in_thread(_run, self._connection._conn, many, sql, parameters)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        return await self._trip(False, sql, () if parameters is None else parameters)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneTripCursor:
        return await self._trip(True, sql, parameters)

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        end = self._next + (self.arraysize if size is None else size)
        chunk = self._rows[self._next : end]
        self._next += len(chunk)
        return chunk

    async def fetchall(self) -> Sequence[Any]:
        rest = self._rows[self._next :] if self._next else self._rows
        self._rows, self._next = [], 0
        return rest

    async def close(self) -> None:
        self._rows, self._next = [], 0

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


class OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection, with cursors that need no trip to open or close."""

    @contextmanager
    async def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)


async def open_connection(database: str, **kwargs: Any) -> OneTripConnection:
    """Open like `aiosqlite.connect(database, **kwargs)`, with one-trip cursors."""
    connect = partial(sqlite3.connect, database, **kwargs)
    connection = OneTripConnection(connect, iter_chunk_size=64)
    # A daemon thread, as SQLAlchemy makes aiosqlite's: an engine not disposed must not
    # keep the process alive at exit.
    connection._thread.daemon = True
    await connection
    return connection
