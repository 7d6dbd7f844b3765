"""Migrations from an empty database, SQLite pragmas, aware times, sealed credentials."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from shopbridge.storage.crypto import EncryptionKeyError, SealedValueError, SecretBox, generate_key
from shopbridge.storage.db import Database, UnsupportedDatabase
from shopbridge.storage.migrate import current_revision, head_revision, upgrade
from shopbridge.storage.tables import Base, TenantRow
from tests.conftest import PG_ENV, _asyncpg_dsn


@pytest.fixture
async def empty_db(tmp_path: Path) -> AsyncIterator[Database]:
    base = os.environ.get(PG_ENV)
    if not base:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        yield db
        await db.dispose()
        return
    name = f"sbmig_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(_asyncpg_dsn(base, make_url(base).database or "postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = Database(make_url(base).set(database=name).render_as_string(hide_password=False))
    try:
        yield db
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_upgrade_from_empty_creates_every_table(empty_db: Database) -> None:
    assert await current_revision(empty_db) is None
    await upgrade(empty_db)
    assert await current_revision(empty_db) == head_revision()
    async with empty_db.engine.connect() as conn:
        tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    assert set(Base.metadata.tables) <= tables
    await upgrade(empty_db)  # idempotent
    assert await current_revision(empty_db) == head_revision()


async def test_schema_matches_models(empty_db: Database) -> None:
    """Autogenerate finds nothing to do: the migrations and the table declarations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    await upgrade(empty_db)

    def diff(conn: object) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})  # type: ignore[arg-type]
        return list(compare_metadata(ctx, Base.metadata))

    async with empty_db.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    try:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await db.dispose()


def test_unsupported_driver_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedDatabase, match="postgresql\\+asyncpg"):
        Database("mysql://localhost/x")


async def test_times_are_aware_and_naive_is_refused(empty_db: Database) -> None:
    await upgrade(empty_db)
    moment = datetime(2026, 11, 11, 0, 0, 5, tzinfo=UTC)
    async with empty_db.transaction() as session:
        session.add(TenantRow(id="ten_t", name="t", created_at=moment))
    async with empty_db.transaction() as session:
        row = await session.get(TenantRow, "ten_t")
        assert row is not None
        assert row.created_at == moment and row.created_at.tzinfo is not None
    with pytest.raises(Exception, match="naive"):
        async with empty_db.transaction() as session:
            session.add(TenantRow(id="ten_n", name="n", created_at=datetime(2026, 1, 1)))
    async with empty_db.transaction() as session:
        assert await session.get(TenantRow, "ten_n") is None


def test_secret_box_round_trip_binding_and_rotation(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    box = SecretBox.from_config(old, tmp_path / "unused")
    sealed, kid = box.seal(b"app-secret", owner="shop:a")
    assert b"app-secret" not in sealed
    assert box.open(sealed, owner="shop:a") == b"app-secret"
    with pytest.raises(SealedValueError):
        box.open(sealed, owner="shop:b")  # copied onto another row: refuses to open
    rotated = SecretBox.from_config(f"{new},{old}", tmp_path / "unused")
    assert rotated.active_key_id != kid
    assert rotated.open(sealed, owner="shop:a") == b"app-secret"
    with pytest.raises(EncryptionKeyError):
        SecretBox.from_config(new, tmp_path / "unused").open(sealed, owner="shop:a")
    with pytest.raises(EncryptionKeyError):
        SecretBox.from_config("too-short", tmp_path / "unused")


def test_key_file_is_generated_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    first = SecretBox.from_config(None, path)
    assert path.stat().st_mode & 0o777 == 0o600
    second = SecretBox.from_config(None, path)
    sealed, _ = first.seal(b"x", owner="o")
    assert second.open(sealed, owner="o") == b"x"


async def test_sqlite_reader_is_not_blocked_by_a_writer(tmp_path: Path) -> None:
    """Read sessions use a deferred snapshot: a long write transaction does not block them,
    and they see only committed data."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'rw.db'}")
    try:
        await upgrade(db)
        async with db.transaction() as writer:
            writer.add(TenantRow(id="ten_w", name="w", created_at=datetime.now(UTC)))
            await writer.flush()
            async with db.read() as reader:
                assert await reader.get(TenantRow, "ten_w") is None
        async with db.read() as reader:
            assert await reader.get(TenantRow, "ten_w") is not None
    finally:
        await db.dispose()
