"""The one-trip SQLite connection must behave, through SQLAlchemy, exactly as aiosqlite's
own: same rows, counts, ids and errors; only the number of trips to its thread changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from shopbridge.storage import sqlite_link
from shopbridge.storage.db import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'link.db'}")
    async with engine.begin() as conn:
        await conn.execute(
            text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE, qty INTEGER)")
        )
    yield engine
    await engine.dispose()


async def test_engine_uses_one_trip_connections(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite_link.OneTripConnection)


async def test_rows_counts_and_ids_as_sqlite_gives_them(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(
            text("INSERT INTO item (name, qty) VALUES (:name, :qty)"), {"name": "a", "qty": 1}
        )
        assert inserted.lastrowid == 1
        many = await conn.execute(
            text("INSERT INTO item (name, qty) VALUES (:name, :qty)"),
            [{"name": n, "qty": q} for n, q in (("b", 2), ("c", 3), ("d", 4))],
        )
        assert many.rowcount == 3
        updated = await conn.execute(text("UPDATE item SET qty = qty + 10 WHERE qty >= 3"))
        assert updated.rowcount == 2
        returned = await conn.execute(text("UPDATE item SET qty = 0 WHERE qty > 10 RETURNING name"))
        assert sorted(returned.scalars().all()) == ["c", "d"]
        rows = (await conn.execute(text("SELECT name, qty FROM item ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [("a", 1), ("b", 2), ("c", 0), ("d", 0)]
        assert (await conn.execute(text("SELECT name FROM item WHERE id = 99"))).first() is None


async def test_partial_fetches_serve_the_rows_in_order(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO item (name, qty) VALUES (:name, :qty)"),
            [{"name": f"n{i}", "qty": i} for i in range(5)],
        )
        result = await conn.execute(text("SELECT qty FROM item ORDER BY qty"))
        assert result.fetchone() == (0,)
        assert [tuple(r) for r in result.fetchmany(2)] == [(1,), (2,)]
        assert [tuple(r) for r in result.fetchall()] == [(3,), (4,)]


async def test_errors_keep_their_types_and_leave_nothing_behind(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO item (name, qty) VALUES ('x', 1)"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO item (name, qty) VALUES ('y', 1)"))
            await conn.execute(text("INSERT INTO item (name, qty) VALUES ('x', 2)"))
    with pytest.raises(OperationalError, match="no such table"):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM missing"))
    async with engine.connect() as conn:
        names = (await conn.execute(text("SELECT name FROM item"))).scalars().all()
    assert names == ["x"]  # the failed transaction's 'y' was rolled back


async def test_a_statement_is_one_trip(engine: AsyncEngine) -> None:
    trips: list[Any] = []
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        link = raw.driver_connection
        assert isinstance(link, sqlite_link.OneTripConnection)
        counted: Any = link._execute

        async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
            trips.append(fn)
            return await counted(fn, *args, **kwargs)

        link._execute = counting  # type: ignore[method-assign]
        try:
            await conn.execute(text("SELECT 1"))
            select_trips = len(trips)
            await conn.execute(text("INSERT INTO item (name, qty) VALUES ('z', 1)"))
        finally:
            del link._execute
        await conn.rollback()
    # aiosqlite's own cursor takes four (open, execute, fetch, close) and three for DML;
    # BEGIN is a statement too.
    assert select_trips == 2  # BEGIN, SELECT
    assert len(trips) == 3  # … INSERT
