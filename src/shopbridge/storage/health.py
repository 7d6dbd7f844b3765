"""Health per shop and per interface, and the webhook backlog per endpoint: what the
operator's dashboard and the alert evaluator (`shopbridge.sync.alerts`) read.

Everything is computed from what is already stored, with a handful of aggregate queries per
call whatever the number of shops or log records (never a Python loop over the log):

- the sync log (`sync_log`): one `GROUP BY shop, interface, direction` over the last hour,
  plus the newest failure of each group fetched by id. Both are range scans of the
  `(tenant_id, id)` / `(tenant_id, shop_id, id)` indexes: sync-log ids are time-ordered
  ULIDs, so "written in the last hour" is also "id at or after the hour's first possible
  id" (`id_floor`). Without a tenant (the alert evaluator) `created_at` is indexed too;
- the sync engine's bookkeeping (`shop_sync_state`) and the pull cursor (`sync_cursors`),
  one row per shop each;
- the outbox and the webhook deliveries (queue depth), grouped by shop;
- the shop's sealed credentials, opened only to read a token expiry when one is stored.

Definitions (docs/operations.md, "Health and alerts", says the same for operators):

- A *call* is a sync-log record of direction `call` (ShopBridge calling the platform).
  Pushes are listed per interface but not counted in the shop's rates: a refused push may
  be anyone's traffic and says nothing about whether the shop syncs.
- An *error* is any outcome but `ok` and `rate_limited`: a rate limit was waited out and
  retried, it is the platform pacing us, not a failure.
- `lag_seconds` is now minus the pull cursor's high water of the `orders` stream: the end of
  the newest update-time window whose orders are all stored. Every order the platform
  changed before that moment is known to ShopBridge; anything newer may not be yet. Null
  before the first pull has completed a window.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.time import to_utc
from shopbridge.logging import get_logger
from shopbridge.storage.crypto import EncryptionKeyError, SealedValueError, SecretBox
from shopbridge.storage.shops import DISCONNECTED, open_credentials
from shopbridge.storage.shops import PAUSED as SHOP_PAUSED
from shopbridge.storage.tables import (
    OutboxEventRow,
    ShopRow,
    ShopSyncStateRow,
    SyncCursorRow,
    SyncLogRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)

log = get_logger(__name__)

__all__ = [
    "DEGRADED_ERROR_RATE",
    "FAILING_CONSECUTIVE_FAILURES",
    "FAILING_ERROR_RATE",
    "FAILING_MIN_CALLS",
    "LAG_POLL_FACTOR",
    "LONG_WINDOW",
    "SHORT_WINDOW",
    "TOKEN_WARNING",
    "HealthStatus",
    "InterfaceHealth",
    "LastError",
    "ShopHealth",
    "WebhookHealth",
    "classify",
    "id_floor",
    "shop_health",
    "token_expiry",
    "webhook_health",
]

HealthStatus = Literal["healthy", "degraded", "failing", "paused", "disconnected"]

SHORT_WINDOW: Final = timedelta(minutes=5)
LONG_WINDOW: Final = timedelta(hours=1)
FAILING_ERROR_RATE: Final = 0.5
FAILING_MIN_CALLS: Final = 3
"""Fewer calls than this in five minutes are too few to call a shop failing on rate alone."""
FAILING_CONSECUTIVE_FAILURES: Final = 3
DEGRADED_ERROR_RATE: Final = 0.1
LAG_POLL_FACTOR: Final = 3
TOKEN_WARNING: Final = timedelta(days=7)

NOT_ERRORS: Final = ("ok", "rate_limited")
AUTH_EXPIRED: Final = "auth_expired"
CALL: Final = "call"
ORDERS_STREAM: Final = "orders"
PAUSED_STATE: Final = "paused"
NEVER_RUN: Final = "never_run"

EXPIRY_KEYS: Final = ("expires_at", "expire_time")
"""Credential keys read as the token's expiry, first found wins: an ISO 8601 time with an
offset, or a Unix time in seconds or milliseconds. `expire_time` is what Taobao's OAuth
token response calls it (milliseconds), so pasting that response into the credentials is
enough; a platform whose tokens do not expire (Shopify offline tokens) stores none. Names
containing `token` or `session` are avoided on purpose: the log scrubber treats the values
of such credential keys as secrets (`logging.register_credentials`)."""
_MS_THRESHOLD: Final = 100_000_000_000  # a Unix time above this is in milliseconds

_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def id_floor(prefix: str, at: datetime) -> str:
    """The smallest id `shopbridge.core.ids.new_id(prefix)` can produce at `at` or later.

    A ULID starts with its millisecond timestamp in ten Crockford base-32 characters, whose
    order is the byte order, so `id >= id_floor(p, t)` selects records created at `t` or
    later as a range of the primary/tenant indexes instead of a scan."""
    millis = max(int(to_utc(at).timestamp() * 1000), 0)
    chars = []
    for _ in range(10):
        chars.append(_CROCKFORD[millis & 31])
        millis >>= 5
    return f"{prefix}_{''.join(reversed(chars))}{'0' * 16}"


# -- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LastError:
    """The newest failure known for a shop: from the sync log when it has one in the last
    hour (with our explanation and action), else the sync engine's last recorded error."""

    code: str | None
    message: str | None
    explanation: str | None
    action: str | None
    at: datetime | None
    interface: str | None


@dataclass(frozen=True)
class InterfaceHealth:
    """One interface of one shop over the last hour (`direction` `call` or `push`)."""

    interface: str
    direction: str
    calls_1h: int
    errors_1h: int
    rate_limited_1h: int
    error_rate_1h: float | None
    last_ok_at: datetime | None
    last_error_at: datetime | None
    last_error_code: str | None
    last_explanation: str | None
    last_action: str | None


@dataclass(frozen=True)
class ShopHealth:
    """Everything `GET /v1/health/shops` says about one shop, and what alerts compare."""

    shop_id: str
    tenant_id: str
    display_name: str
    platform: str
    status: HealthStatus
    sync_state: str
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    last_error: LastError | None
    lag_seconds: float | None
    error_rate_5m: float | None
    error_rate_1h: float | None
    calls_5m: int
    calls_1h: int
    errors_5m: int
    errors_1h: int
    consecutive_failures: int
    interfaces: list[InterfaceHealth]
    unsequenced_events: int
    pending_deliveries: int
    token_expires_at: datetime | None
    auth_expired: bool
    poll_interval_seconds: float
    alerts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class WebhookHealth:
    endpoint_id: str
    url: str
    enabled: bool
    pending: int
    failed: int
    oldest_pending_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    disabled_reason: str | None


# -- helpers -------------------------------------------------------------------------------


def _rate(errors: int, calls: int) -> float | None:
    return round(errors / calls, 4) if calls else None


def _in(column: Any, values: Collection[str] | None) -> ColumnElement[bool] | None:
    if values is None:
        return None
    items = sorted(set(values))
    return column == items[0] if len(items) == 1 else column.in_(items)  # type: ignore[no-any-return]


def _where(*conditions: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    return [c for c in conditions if c is not None]


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _max_if(condition: ColumnElement[bool], column: Any) -> Any:
    return func.max(case((condition, column), else_=None))


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _epoch(value: float) -> datetime | None:
    seconds = value / 1000 if abs(value) >= _MS_THRESHOLD else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def token_expiry(credentials: Mapping[str, Any]) -> datetime | None:
    """When the shop's platform token stops working, if the credentials say (see
    `EXPIRY_KEYS`); None when they do not or the value cannot be read. A time without an
    offset is ignored rather than guessed (ShopBridge never guesses a time zone)."""
    for key in EXPIRY_KEYS:
        value = credentials.get(key)
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            if math.isfinite(value) and value > 0:
                return _epoch(float(value))
            continue
        if not isinstance(value, str):
            continue
        text = value.strip()
        if text.isdigit():
            return _epoch(float(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return to_utc(moment)
        except ValueError:
            continue
    return None


def _shop_poll_interval(shop: ShopRow, default: float) -> float:
    """The shop's own `poll_interval_seconds` setting, as the sync engine reads it."""
    value = shop.settings.get("poll_interval_seconds") if isinstance(shop.settings, dict) else None
    return float(value) if isinstance(value, int | float) and value > 0 else default


# -- status --------------------------------------------------------------------------------


def classify(
    *,
    shop_status: str,
    sync_state: str,
    paused_reason: str | None,
    auth_expired: bool,
    token_expires_at: datetime | None,
    calls_5m: int,
    errors_5m: int,
    calls_1h: int,
    errors_1h: int,
    consecutive_failures: int,
    lag_seconds: float | None,
    poll_interval_seconds: float,
    now: datetime,
) -> tuple[HealthStatus, list[str]]:
    """The status and the reasons for it, first match wins:

    1. `disconnected` / `paused`: the shop's own status (the merchant or operator did it);
    2. `failing`: ShopBridge stopped syncing the shop (sync state `paused`: expired token,
       missing credentials, no connector), or the authorisation expired (the newest
       `auth_expired` call is newer than the newest successful one, or the stored token
       expiry has passed), or ≥ 50 % of the last five minutes' calls failed (at least 3
       calls), or 3 syncs in a row failed;
    3. `degraded`: ≥ 10 % of the last hour's calls failed, or the lag is over 3 × the
       shop's poll interval, or the token expires within 7 days;
    4. `healthy`.

    Reasons are sentences for a person; every matching condition is listed, the failing
    ones first, so a failing shop also says it is lagging."""
    if shop_status == DISCONNECTED:
        return "disconnected", ["The shop is disconnected: connect it again to sync it."]
    if shop_status == SHOP_PAUSED:
        return "paused", ["The shop is paused: resume it with PATCH /v1/shops/{id}."]
    failing: list[str] = []
    degraded: list[str] = []
    if sync_state == PAUSED_STATE:
        failing.append(f"ShopBridge stopped syncing this shop: {paused_reason or 'paused'}.")
    expired_token = token_expires_at is not None and token_expires_at <= now
    if auth_expired or expired_token:
        when = f" at {token_expires_at.isoformat()}" if expired_token and token_expires_at else ""
        failing.append(
            f"The shop's authorisation expired{when}: re-authorise the shop "
            "(PATCH /v1/shops/{id} with new credentials)."
        )
    if calls_5m >= FAILING_MIN_CALLS and errors_5m / calls_5m >= FAILING_ERROR_RATE:
        failing.append(f"{errors_5m} of {calls_5m} platform calls failed in the last 5 minutes.")
    if consecutive_failures >= FAILING_CONSECUTIVE_FAILURES:
        failing.append(f"{consecutive_failures} syncs in a row failed.")
    if calls_1h and errors_1h / calls_1h >= DEGRADED_ERROR_RATE:
        degraded.append(
            f"{round(100 * errors_1h / calls_1h)} % of platform calls failed in the last hour "
            f"({errors_1h} of {calls_1h})."
        )
    if lag_seconds is not None and lag_seconds > LAG_POLL_FACTOR * poll_interval_seconds:
        degraded.append(
            f"Orders are {round(lag_seconds)} s behind the platform (more than "
            f"{LAG_POLL_FACTOR} × the {poll_interval_seconds:g} s poll interval)."
        )
    if (
        token_expires_at is not None
        and not expired_token
        and token_expires_at - now <= TOKEN_WARNING
    ):
        days = (token_expires_at - now).total_seconds() / 86400
        degraded.append(
            f"The shop's token expires at {token_expires_at.isoformat()} (in {days:.1f} days): "
            "re-authorise the shop before then."
        )
    if failing:
        return "failing", failing + degraded
    if degraded:
        return "degraded", degraded
    return "healthy", []


# -- queries -------------------------------------------------------------------------------


@dataclass
class _Group:
    """One (shop, interface, direction) row of the last hour's aggregate."""

    interface: str
    direction: str
    calls: int
    errors: int
    rate_limited: int
    calls_5m: int
    errors_5m: int
    last_at: datetime | None
    last_ok_at: datetime | None
    last_error_at: datetime | None
    last_auth_expired_at: datetime | None


async def _log_groups(
    session: AsyncSession,
    tenants: ColumnElement[bool] | None,
    shops: ColumnElement[bool] | None,
    now: datetime,
) -> dict[str, list[_Group]]:
    since_1h = now - LONG_WINDOW
    since_5m = now - SHORT_WINDOW
    is_error = SyncLogRow.outcome.not_in(NOT_ERRORS)
    recent = SyncLogRow.created_at >= since_5m
    stmt = (
        select(
            SyncLogRow.shop_id,
            SyncLogRow.interface,
            SyncLogRow.direction,
            func.count(),
            _count_if(is_error),
            _count_if(SyncLogRow.outcome == "rate_limited"),
            _count_if(recent),
            _count_if(and_(recent, is_error)),
            func.max(SyncLogRow.created_at),
            _max_if(SyncLogRow.outcome == "ok", SyncLogRow.created_at),
            _max_if(is_error, SyncLogRow.created_at),
            _max_if(SyncLogRow.outcome == AUTH_EXPIRED, SyncLogRow.created_at),
        )
        .where(
            *_where(
                tenants,
                shops,
                SyncLogRow.id >= id_floor("slog", since_1h),
                SyncLogRow.created_at >= since_1h,
            )
        )
        .group_by(SyncLogRow.shop_id, SyncLogRow.interface, SyncLogRow.direction)
    )
    groups: dict[str, list[_Group]] = defaultdict(list)
    for row in (await session.execute(stmt)).all():
        calls, errors, limited, calls_5m, errors_5m = (int(v or 0) for v in row[3:8])
        groups[row[0]].append(
            _Group(row[1], row[2], calls, errors, limited, calls_5m, errors_5m, *row[8:])
        )
    return groups


async def _latest_failures(
    session: AsyncSession,
    tenants: ColumnElement[bool] | None,
    shops: ColumnElement[bool] | None,
    now: datetime,
) -> dict[tuple[str, str, str], SyncLogRow]:
    """The newest error of each (shop, interface, direction) in the last hour: one grouped
    `max(id)` (ids are time-ordered) and one fetch of those rows by primary key."""
    since = now - LONG_WINDOW
    newest = (
        select(func.max(SyncLogRow.id))
        .where(
            *_where(
                tenants,
                shops,
                SyncLogRow.id >= id_floor("slog", since),
                SyncLogRow.created_at >= since,
                SyncLogRow.outcome.not_in(NOT_ERRORS),
            )
        )
        .group_by(SyncLogRow.shop_id, SyncLogRow.interface, SyncLogRow.direction)
    )
    rows = (await session.scalars(select(SyncLogRow).where(SyncLogRow.id.in_(newest)))).all()
    return {(r.shop_id, r.interface, r.direction): r for r in rows}


async def _lags(
    session: AsyncSession,
    tenant_ids: Collection[str] | None,
    shop_ids: Collection[str] | None,
    now: datetime,
) -> dict[str, float]:
    """Lag per shop from its `orders` cursor (one row per shop; the primary key when the
    shops are named)."""
    stmt = select(SyncCursorRow.shop_id, SyncCursorRow.cursor).where(
        *_where(
            SyncCursorRow.stream == ORDERS_STREAM,
            _in(SyncCursorRow.shop_id, shop_ids),
            _in(SyncCursorRow.tenant_id, tenant_ids),
        )
    )
    lags: dict[str, float] = {}
    for shop_id, cursor in (await session.execute(stmt)).all():
        high_water = cursor.get("high_water") if isinstance(cursor, dict) else None
        if not high_water:
            continue
        try:
            moment = to_utc(datetime.fromisoformat(high_water))
        except ValueError:
            continue
        lags[shop_id] = max((now - moment).total_seconds(), 0.0)
    return lags


async def _queues(
    session: AsyncSession, tenant_ids: Collection[str] | None, shop_ids: Collection[str] | None
) -> tuple[dict[str, int], dict[str, int]]:
    """Per shop: outbox events not yet given a feed position (nor fanned out to webhooks),
    and webhook deliveries of the shop's events still pending. Both grouped in the database
    over indexed columns (`dispatched_at`; deliveries' `state`, joined to their event)."""
    unsequenced_stmt = (
        select(OutboxEventRow.shop_id, func.count())
        .where(
            *_where(
                _in(OutboxEventRow.tenant_id, tenant_ids),
                _in(OutboxEventRow.shop_id, shop_ids),
                OutboxEventRow.dispatched_at.is_(None),
                OutboxEventRow.shop_id.is_not(None),
            )
        )
        .group_by(OutboxEventRow.shop_id)
    )
    pending_stmt = (
        select(OutboxEventRow.shop_id, func.count())
        .select_from(WebhookDeliveryRow)
        .join(OutboxEventRow, OutboxEventRow.id == WebhookDeliveryRow.event_id)
        .where(
            *_where(
                _in(WebhookDeliveryRow.tenant_id, tenant_ids),
                _in(OutboxEventRow.shop_id, shop_ids),
                WebhookDeliveryRow.state == "pending",
                OutboxEventRow.shop_id.is_not(None),
            )
        )
        .group_by(OutboxEventRow.shop_id)
    )
    unsequenced = {s: int(n) for s, n in (await session.execute(unsequenced_stmt)).all() if s}
    pending = {s: int(n) for s, n in (await session.execute(pending_stmt)).all() if s}
    return unsequenced, pending


def _token_expiry_of(box: SecretBox | None, shop: ShopRow) -> datetime | None:
    if box is None or shop.credentials_sealed is None:
        return None
    try:
        return token_expiry(open_credentials(box, shop))
    except (EncryptionKeyError, SealedValueError, ValueError) as exc:
        # Health must still answer for the other shops; the sync reports the real problem.
        log.warning("health_credentials_unreadable", shop_id=shop.id, error_type=type(exc).__name__)
        return None


async def shop_health(
    session: AsyncSession,
    *,
    box: SecretBox | None,
    default_poll_interval: float,
    now: datetime,
    tenant_ids: Collection[str] | None = None,
    shop_ids: Collection[str] | None = None,
    statuses: Collection[str] | None = None,
    platform: str | None = None,
    with_queue: bool = True,
) -> list[ShopHealth]:
    """Health of the shops selected by tenant, id and shop status (None: no filter), in
    shop id order. `box` opens credentials for the token expiry (None: not read);
    `with_queue` False skips the queue counts (the alert evaluator does not need them)."""
    tenants_sql = _in(ShopRow.tenant_id, tenant_ids)
    stmt = (
        select(ShopRow, ShopSyncStateRow)
        .outerjoin(ShopSyncStateRow, ShopSyncStateRow.shop_id == ShopRow.id)
        .where(
            *_where(
                tenants_sql,
                _in(ShopRow.id, shop_ids),
                _in(ShopRow.status, statuses),
                ShopRow.platform == platform if platform else None,
            )
        )
        .order_by(ShopRow.id)
    )
    pairs = (await session.execute(stmt)).all()
    if not pairs:
        return []
    log_tenants = _in(SyncLogRow.tenant_id, tenant_ids)
    log_shops = _in(SyncLogRow.shop_id, shop_ids)
    if platform:
        log_shops = and_(*_where(log_shops, SyncLogRow.platform == platform))
    groups = await _log_groups(session, log_tenants, log_shops, now)
    failures = await _latest_failures(session, log_tenants, log_shops, now)
    lags = await _lags(session, tenant_ids, shop_ids, now)
    unsequenced, pending = await _queues(session, tenant_ids, shop_ids) if with_queue else ({}, {})
    result = []
    for shop, state in pairs:
        result.append(
            _assemble(
                shop,
                state,
                groups.get(shop.id, []),
                failures,
                lag=lags.get(shop.id),
                unsequenced=unsequenced.get(shop.id, 0),
                pending=pending.get(shop.id, 0),
                token_expires_at=_token_expiry_of(box, shop),
                default_poll_interval=default_poll_interval,
                now=now,
            )
        )
    return result


def _assemble(
    shop: ShopRow,
    state: ShopSyncStateRow | None,
    groups: list[_Group],
    failures: Mapping[tuple[str, str, str], SyncLogRow],
    *,
    lag: float | None,
    unsequenced: int,
    pending: int,
    token_expires_at: datetime | None,
    default_poll_interval: float,
    now: datetime,
) -> ShopHealth:
    calls = [g for g in groups if g.direction == CALL]
    calls_1h = sum(g.calls for g in calls)
    errors_1h = sum(g.errors for g in calls)
    calls_5m = sum(g.calls_5m for g in calls)
    errors_5m = sum(g.errors_5m for g in calls)
    last_call_ok = _latest(*(g.last_ok_at for g in calls))
    last_auth_expired = _latest(*(g.last_auth_expired_at for g in groups))
    auth_expired = last_auth_expired is not None and (
        last_call_ok is None or last_auth_expired > last_call_ok
    )
    interfaces = []
    newest_failure: SyncLogRow | None = None
    for group in sorted(groups, key=lambda g: (g.direction, g.interface)):
        failure = failures.get((shop.id, group.interface, group.direction))
        if failure is not None and (newest_failure is None or failure.id > newest_failure.id):
            newest_failure = failure
        interfaces.append(
            InterfaceHealth(
                interface=group.interface,
                direction=group.direction,
                calls_1h=group.calls,
                errors_1h=group.errors,
                rate_limited_1h=group.rate_limited,
                error_rate_1h=_rate(group.errors, group.calls),
                last_ok_at=group.last_ok_at,
                last_error_at=group.last_error_at,
                last_error_code=failure.code if failure else None,
                last_explanation=failure.explanation if failure else None,
                last_action=failure.action if failure else None,
            )
        )
    sync_state = state.state if state is not None else NEVER_RUN
    paused_reason = state.paused_reason if state is not None else None
    last_error: LastError | None = None
    if newest_failure is not None:
        last_error = LastError(
            code=newest_failure.code,
            message=newest_failure.message,
            explanation=newest_failure.explanation,
            action=newest_failure.action,
            at=newest_failure.created_at,
            interface=newest_failure.interface,
        )
    elif state is not None and state.last_error:
        last_error = LastError(
            code=state.last_error_code,
            message=state.last_error,
            explanation=None,
            action=paused_reason if sync_state == PAUSED_STATE else None,
            at=state.last_error_at,
            interface=None,
        )
    consecutive = state.consecutive_failures if state is not None else 0
    poll = _shop_poll_interval(shop, default_poll_interval)
    status, alerts = classify(
        shop_status=shop.status,
        sync_state=sync_state,
        paused_reason=paused_reason,
        auth_expired=auth_expired,
        token_expires_at=token_expires_at,
        calls_5m=calls_5m,
        errors_5m=errors_5m,
        calls_1h=calls_1h,
        errors_1h=errors_1h,
        consecutive_failures=consecutive,
        lag_seconds=lag,
        poll_interval_seconds=poll,
        now=now,
    )
    return ShopHealth(
        shop_id=shop.id,
        tenant_id=shop.tenant_id,
        display_name=shop.display_name,
        platform=shop.platform,
        status=status,
        sync_state=sync_state,
        last_success_at=state.last_success_at if state is not None else None,
        last_attempt_at=_latest(
            state.last_attempt_at if state is not None else None,
            state.last_success_at if state is not None else None,
            state.last_error_at if state is not None else None,
            _latest(*(g.last_at for g in calls)),
        ),
        last_error=last_error,
        lag_seconds=round(lag, 3) if lag is not None else None,
        error_rate_5m=_rate(errors_5m, calls_5m),
        error_rate_1h=_rate(errors_1h, calls_1h),
        calls_5m=calls_5m,
        calls_1h=calls_1h,
        errors_5m=errors_5m,
        errors_1h=errors_1h,
        consecutive_failures=consecutive,
        interfaces=interfaces,
        unsequenced_events=unsequenced,
        pending_deliveries=pending,
        token_expires_at=token_expires_at,
        auth_expired=auth_expired or (token_expires_at is not None and token_expires_at <= now),
        poll_interval_seconds=poll,
        alerts=alerts,
    )


async def webhook_health(session: AsyncSession, tenant_id: str) -> list[WebhookHealth]:
    """Backlog and dead letters of each of the tenant's endpoints (newest endpoint first, as
    `GET /v1/webhook-endpoints` lists them): counts grouped by (endpoint, state) over the
    `(tenant_id, endpoint_id, state)` index, and the newest error of a delivery that is
    still pending or dead, found by a grouped max and one join."""
    endpoints = (
        await session.scalars(
            select(WebhookEndpointRow)
            .where(WebhookEndpointRow.tenant_id == tenant_id)
            .order_by(WebhookEndpointRow.id.desc())
        )
    ).all()
    if not endpoints:
        return []
    open_states = ("pending", "failed")
    counts_stmt = (
        select(
            WebhookDeliveryRow.endpoint_id,
            WebhookDeliveryRow.state,
            func.count(),
            func.min(WebhookDeliveryRow.created_at),
        )
        .where(
            WebhookDeliveryRow.tenant_id == tenant_id,
            WebhookDeliveryRow.state.in_(open_states),
        )
        .group_by(WebhookDeliveryRow.endpoint_id, WebhookDeliveryRow.state)
    )
    counts: dict[tuple[str, str], tuple[int, datetime | None]] = {
        (endpoint_id, state): (int(n), oldest)
        for endpoint_id, state, n, oldest in (await session.execute(counts_stmt)).all()
    }
    newest = (
        select(
            WebhookDeliveryRow.endpoint_id.label("endpoint_id"),
            func.max(WebhookDeliveryRow.last_attempt_at).label("at"),
        )
        .where(
            WebhookDeliveryRow.tenant_id == tenant_id,
            WebhookDeliveryRow.state.in_(open_states),
            WebhookDeliveryRow.last_error.is_not(None),
            WebhookDeliveryRow.last_attempt_at.is_not(None),
        )
        .group_by(WebhookDeliveryRow.endpoint_id)
        .subquery()
    )
    errors_stmt = (
        select(
            WebhookDeliveryRow.endpoint_id,
            WebhookDeliveryRow.last_error,
            WebhookDeliveryRow.last_attempt_at,
        )
        .join(
            newest,
            and_(
                newest.c.endpoint_id == WebhookDeliveryRow.endpoint_id,
                newest.c.at == WebhookDeliveryRow.last_attempt_at,
            ),
        )
        .where(
            WebhookDeliveryRow.tenant_id == tenant_id,
            WebhookDeliveryRow.state.in_(open_states),
            WebhookDeliveryRow.last_error.is_not(None),
        )
    )
    errors: dict[str, tuple[str | None, datetime | None]] = {}
    for endpoint_id, message, at in (await session.execute(errors_stmt)).all():
        errors.setdefault(endpoint_id, (message, at))
    result = []
    for endpoint in endpoints:
        pending, oldest = counts.get((endpoint.id, "pending"), (0, None))
        failed, _ = counts.get((endpoint.id, "failed"), (0, None))
        message, at = errors.get(endpoint.id, (None, None))
        result.append(
            WebhookHealth(
                endpoint_id=endpoint.id,
                url=endpoint.url,
                enabled=endpoint.enabled,
                pending=pending,
                failed=failed,
                oldest_pending_at=oldest,
                last_error=message,
                last_error_at=at,
                disabled_reason=endpoint.disabled_reason,
            )
        )
    return result
