"""API-key authentication and scopes.

A key belongs to exactly one tenant and carries scopes. `admin` implies every tenant-level
scope; `operator` (held by the bootstrap key) manages tenants themselves. Other tenants'
resources are reported as missing (404), never as forbidden, so ids cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from datetime import timedelta

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shopbridge.api.problems import ProblemError
from shopbridge.core.time import utcnow
from shopbridge.storage.tenants import find_key_by_token

OPERATOR = "operator"
ADMIN = "admin"
TENANT_SCOPES: tuple[str, ...] = (
    ADMIN,
    "keys:read",
    "keys:write",
    "shops:read",
    "shops:write",
    "orders:read",
    "orders:write",
    "events:read",
    "webhooks:read",
    "webhooks:write",
    "stock:read",
    "stock:write",
    "pii:read",
)
ALL_SCOPES: tuple[str, ...] = (OPERATOR, *TENANT_SCOPES)
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
    async with db.transaction() as session:
        row = await find_key_by_token(session, token)
        now = utcnow()
        if row is None:
            raise _unauthorized("The API key is not valid.")
        if row.revoked_at is not None:
            raise _unauthorized("The API key has been revoked.")
        if row.expires_at is not None and row.expires_at <= now:
            raise _unauthorized("The API key has expired.")
        if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
            row.last_used_at = now
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
