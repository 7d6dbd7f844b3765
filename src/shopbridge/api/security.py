"""API-key authentication and scopes.

A key belongs to exactly one tenant and carries scopes. `admin` implies every tenant-level
scope; `operator` (held by the bootstrap key) manages tenants themselves. Other tenants'
resources are reported as missing (404), never as forbidden, so ids cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update

from shopbridge.api.problems import ProblemError
from shopbridge.core.time import utcnow
from shopbridge.storage.tables import ApiKeyRow
from shopbridge.storage.tenants import find_key_by_token


class Scope(StrEnum):
    """What an API key may do (see docs/api.md)."""

    OPERATOR = "operator"
    ADMIN = "admin"
    KEYS_READ = "keys:read"
    KEYS_WRITE = "keys:write"
    SHOPS_READ = "shops:read"
    SHOPS_WRITE = "shops:write"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    EVENTS_READ = "events:read"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"
    STOCK_READ = "stock:read"
    STOCK_WRITE = "stock:write"
    PII_READ = "pii:read"
    AUDIT_READ = "audit:read"


OPERATOR = Scope.OPERATOR.value
ADMIN = Scope.ADMIN.value
ALL_SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)
BOOTSTRAP_SCOPES: tuple[str, ...] = (OPERATOR, ADMIN, "pii:read")
_LAST_USED_RESOLUTION = timedelta(minutes=1)

bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer sbk_…`")


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    key_id: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        if scope in self.scopes:
            return True
        # admin implies every tenant scope except reading buyer data, which must be explicit.
        return scope != OPERATOR and scope != "pii:read" and ADMIN in self.scopes

    def can_grant(self, scopes: set[str]) -> bool:
        return all(self.has(s) for s in scopes)


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401,
        "unauthorized",
        "Unauthorized",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="shopbridge"'},
    )


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise _unauthorized("Send an API key as `Authorization: Bearer <key>`.")
    token = credentials.credentials
    if len(token) > 200:
        raise _unauthorized("The API key is not valid.")
    db = request.app.state.db
    async with db.read() as session:
        row = await find_key_by_token(session, token)
    now = utcnow()
    if row is None:
        raise _unauthorized("The API key is not valid.")
    if row.revoked_at is not None:
        raise _unauthorized("The API key has been revoked.")
    if row.expires_at is not None and row.expires_at <= now:
        raise _unauthorized("The API key has expired.")
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        # At most one small write per key per minute, outside the request's own work.
        async with db.transaction() as session:
            await session.execute(
                update(ApiKeyRow).where(ApiKeyRow.id == row.id).values(last_used_at=now)
            )
    return Principal(tenant_id=row.tenant_id, key_id=row.id, scopes=frozenset(row.scopes))


def require(scope: str) -> Any:
    async def _check(principal: Principal = Depends(authenticate)) -> Principal:
        if not principal.has(scope):
            raise ProblemError(
                403,
                "insufficient-scope",
                "Insufficient scope",
                f"This API key lacks the `{scope}` scope.",
            )
        return principal

    return Depends(_check)
