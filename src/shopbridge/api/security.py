"""API-key authentication, scopes, tenant binding and brute-force protection.

A key belongs to exactly one tenant and carries scopes. `admin` implies every tenant-level
scope; `operator` (held by the bootstrap key) manages tenants themselves. Other tenants'
resources are reported as missing (404), never as forbidden, so ids cannot be probed.

A successful authentication binds the key's tenant to the rest of the request
(`shopbridge.storage.scoping`): every ORM query of the request is then narrowed to that
tenant even where a repository forgot its own filter.

Failed attempts (missing, unknown, revoked or expired key) are counted per client address;
an address over `auth_failures_per_minute` gets 429 for every attempt, valid key or not,
until its failures age out of the window (see `AuthFailureLimiter`).
"""

from __future__ import annotations

import hmac
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update

from shopbridge.api.metrics import AUTH_FAILURES
from shopbridge.api.problems import ProblemError
from shopbridge.core.time import utcnow
from shopbridge.storage.scoping import bind_tenant, unscoped
from shopbridge.storage.tables import ApiKeyRow
from shopbridge.storage.tenants import find_key_by_hash, hash_key


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


AUTH_WINDOW_SECONDS = 60.0
MAX_TRACKED_ADDRESSES = 10_000


class AuthFailureLimiter:
    """Failed authentications per client address over a sliding window, in memory.

    An address that has failed `limit` times within the last `window` seconds is refused
    (`retry_after` says for how long) until the oldest of those failures ages out. The
    refusal applies to every attempt, a valid key included: otherwise a guesser would learn
    which of his guesses hit from the one answer that is not 429. Refused attempts are not
    counted, so an address is never locked out for longer than the window.

    Per process, not shared: with N API processes an address gets up to N x `limit`
    attempts per window, which still caps guessing (keys have 240 bits of entropy; this is
    about noise, log flooding and weak keys set by hand with `SHOPBRIDGE_ADMIN_KEY`).
    Memory is bounded: at most `max_addresses` addresses (least recently failed evicted
    first) with at most `limit` timestamps each. The clock is injectable for tests.
    """

    def __init__(
        self,
        limit: int,
        *,
        window: float = AUTH_WINDOW_SECONDS,
        max_addresses: int = MAX_TRACKED_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0 or max_addresses < 1:
            raise ValueError("limit, window and max_addresses must be positive")
        self.limit = limit
        self.window = window
        self.max_addresses = max_addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, address: str) -> float | None:
        """Seconds until `address` may try again, or None when it may try now."""
        failures = self._failures.get(address)
        if failures is None:
            return None
        now = self.clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        if len(failures) < self.limit:
            return None
        return failures[0] + self.window - now

    def record_failure(self, address: str) -> None:
        failures = self._failures.pop(address, None)
        if failures is None:
            failures = deque(maxlen=self.limit)  # older failures no longer matter
        failures.append(self.clock())
        self._failures[address] = failures  # (re)inserted last: most recently failed
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)


def auth_limiter(request: Request) -> AuthFailureLimiter:
    """The app's limiter, created on first use from its settings (tests may set their own
    on `app.state.auth_limiter` beforehand, with a small limit and a fake clock)."""
    state = request.app.state
    limiter: AuthFailureLimiter | None = getattr(state, "auth_limiter", None)
    if limiter is None:
        limiter = state.auth_limiter = AuthFailureLimiter(state.settings.auth_failures_per_minute)
    return limiter


def _client_address(request: Request) -> str:
    # Behind a reverse proxy this is the proxy unless uvicorn trusts its X-Forwarded-For
    # (`FORWARDED_ALLOW_IPS`); see docs/security.md.
    return request.client.host if request.client else "unknown"


def _too_many(retry_after: float) -> ProblemError:
    seconds = max(1, math.ceil(retry_after))
    return ProblemError(
        429,
        "rate-limited",
        "Too many requests",
        f"Too many failed authentication attempts from this address; try again in {seconds} s.",
        headers={"Retry-After": str(seconds)},
    )


async def authenticate(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Principal:
    """Resolve the API key to a `Principal` and bind its tenant to the rest of the request.

    FastAPI runs async dependencies in the request's own task, before the endpoint and in
    the same context, so the tenant bound here scopes the endpoint, the body of a streamed
    response and background tasks of the same request, and nothing else."""
    address = _client_address(request)
    limiter = auth_limiter(request)
    wait = limiter.retry_after(address)
    if wait is not None:
        AUTH_FAILURES.labels(reason="rate_limited").inc()
        raise _too_many(wait)

    def failed(reason: str, detail: str) -> ProblemError:
        limiter.record_failure(address)
        AUTH_FAILURES.labels(reason=reason).inc()
        return _unauthorized(detail)

    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise failed("missing", "Send an API key as `Authorization: Bearer <key>`.")
    token = credentials.credentials
    if len(token) > 200:
        raise failed("invalid", "The API key is not valid.")
    db = request.app.state.db
    digest = hash_key(token)
    # The key table is read before any tenant is known (and must be, whatever the context).
    with unscoped():
        async with db.read() as session:
            row = await find_key_by_hash(session, digest)
        now = utcnow()
        # The lookup is by (indexed) hash; compare again in constant time so no Python-level
        # comparison of key material can leak timing.
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            raise failed("invalid", "The API key is not valid.")
        if row.revoked_at is not None:
            raise failed("revoked", "The API key has been revoked.")
        if row.expires_at is not None and row.expires_at <= now:
            raise failed("expired", "The API key has expired.")
        if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
            # At most one small write per key per minute, outside the request's own work.
            async with db.transaction() as session:
                await session.execute(
                    update(ApiKeyRow).where(ApiKeyRow.id == row.id).values(last_used_at=now)
                )
    bind_tenant(row.tenant_id)
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
