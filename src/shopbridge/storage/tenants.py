"""Tenants and API keys."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.ids import new_id
from shopbridge.core.time import utcnow
from shopbridge.storage.errors import NotFound
from shopbridge.storage.tables import ApiKeyRow, TenantRow

KEY_PREFIX = "sbk_"
DEFAULT_TENANT_NAME = "default"
DEFAULT_TENANT_ID = "ten_default"


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def generate_token() -> str:
    """`sbk_` + 40 url-safe characters (240 bits), recognisable by secret scanners."""
    return KEY_PREFIX + secrets.token_urlsafe(30)


@dataclass(frozen=True)
class IssuedKey:
    row: ApiKeyRow
    token: str


async def create_tenant(
    session: AsyncSession, name: str, *, tenant_id: str | None = None
) -> TenantRow:
    row = TenantRow(id=tenant_id or new_id("ten"), name=name, created_at=utcnow())
    session.add(row)
    await session.flush()
    return row


async def ensure_default_tenant(session: AsyncSession) -> TenantRow:
    """The tenant a fresh install starts with; a fixed id makes concurrent first starts
    collide on the primary key instead of creating two."""
    row = await session.get(TenantRow, DEFAULT_TENANT_ID)
    if row is None:
        row = await create_tenant(session, DEFAULT_TENANT_NAME, tenant_id=DEFAULT_TENANT_ID)
    return row


async def get_tenant(session: AsyncSession, tenant_id: str) -> TenantRow:
    row = await session.get(TenantRow, tenant_id)
    if row is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return row


async def list_tenants(
    session: AsyncSession, *, after: str | None, limit: int
) -> Sequence[TenantRow]:
    stmt = select(TenantRow).order_by(TenantRow.id).limit(limit)
    if after:
        stmt = stmt.where(TenantRow.id > after)
    return (await session.scalars(stmt)).all()


async def issue_key(
    session: AsyncSession,
    tenant_id: str,
    *,
    name: str,
    scopes: Sequence[str],
    expires_at: datetime | None = None,
    created_by: str | None = None,
    token: str | None = None,
) -> IssuedKey:
    """Create a key; the token is returned here once and only its hash is stored."""
    token = token or generate_token()
    row = ApiKeyRow(
        id=new_id("key"),
        tenant_id=tenant_id,
        name=name,
        key_hash=hash_key(token),
        key_prefix=token[:12],
        scopes=sorted(set(scopes)),
        created_at=utcnow(),
        expires_at=expires_at,
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    return IssuedKey(row=row, token=token)


async def find_key_by_token(session: AsyncSession, token: str) -> ApiKeyRow | None:
    return (
        await session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == hash_key(token)))
    ).first()


async def find_key_by_hash(session: AsyncSession, key_hash: str) -> ApiKeyRow | None:
    return (await session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))).first()


class ApiKeyRepository:
    """Keys of one tenant: every query is filtered by the tenant given at construction."""

    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def list(self, *, after: str | None, limit: int) -> Sequence[ApiKeyRow]:
        stmt = (
            select(ApiKeyRow)
            .where(ApiKeyRow.tenant_id == self.tenant_id)
            .order_by(ApiKeyRow.id)
            .limit(limit)
        )
        if after:
            stmt = stmt.where(ApiKeyRow.id > after)
        return (await self.session.scalars(stmt)).all()

    async def get(self, key_id: str) -> ApiKeyRow:
        row = (
            await self.session.scalars(
                select(ApiKeyRow).where(
                    ApiKeyRow.tenant_id == self.tenant_id, ApiKeyRow.id == key_id
                )
            )
        ).first()
        if row is None:
            raise NotFound(f"API key {key_id} not found")
        return row

    async def revoke(self, key_id: str) -> ApiKeyRow:
        row = await self.get(key_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            await self.session.flush()
        return row
