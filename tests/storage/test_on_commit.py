"""`on_commit` callbacks run once the outermost transaction commits, and never for work
that was rolled back (the whole transaction, or the savepoint they were registered in)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from shopbridge.storage.db import Database
from shopbridge.storage.on_commit import on_commit


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'commit.db'}")
    yield database
    await database.dispose()


async def test_runs_after_the_commit_not_before(db: Database) -> None:
    ran: list[str] = []
    async with db.transaction() as session:
        await session.execute(text("SELECT 1"))
        on_commit(session, lambda: ran.append("a"))
        assert ran == []
    assert ran == ["a"]


async def test_never_runs_when_the_transaction_rolls_back(db: Database) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            on_commit(session, lambda: ran.append("a"))
            raise RuntimeError("unit of work failed")
    async with db.transaction() as session:
        on_commit(session, lambda: ran.append("b"))
    assert ran == ["b"]  # nothing of the failed unit is left pending on a reused session


async def test_a_rolled_back_savepoint_drops_only_its_own(db: Database) -> None:
    ran: list[str] = []
    async with db.transaction() as session:
        on_commit(session, lambda: ran.append("outer"))
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                on_commit(session, lambda: ran.append("failed savepoint"))
                raise RuntimeError("this message fails")
        async with session.begin_nested():
            on_commit(session, lambda: ran.append("released savepoint"))
        assert ran == []  # releasing a savepoint is not a commit
    assert ran == ["outer", "released savepoint"]


async def test_a_savepoint_rolled_back_around_a_released_one_drops_both(db: Database) -> None:
    ran: list[str] = []
    async with db.transaction() as session:
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                async with session.begin_nested():
                    on_commit(session, lambda: ran.append("inner"))
                raise RuntimeError("the outer savepoint fails")
        on_commit(session, lambda: ran.append("after"))
    assert ran == ["after"]
