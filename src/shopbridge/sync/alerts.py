"""Health alerts as events, so an ERP or a pager can react without polling the dashboard.

A periodic evaluator (run by the sync worker, about once a minute) computes the health of
every active shop (`shopbridge.storage.health`) and writes, through the transactional
outbox, so webhooks and the event feed deliver them like any other event:

- `shop.sync_degraded` when a shop's status turns `degraded` or `failing`, or moves
  between the two (payload: `status`, `previous_status`, `reasons`, `last_error`, rates);
- `shop.sync_recovered` when a shop that was alerted as degraded or failing is `healthy`;
- `shop.auth_expiring` when the shop's stored token expires within 7 days (or has expired),
  once per expiry time: a renewed token that nears its own end is alerted again.

**Once per change, without a table of its own.** The last alerted state of a shop is the
newest alert event of that shop in the outbox: alert events carry the shop id as their
`subject_id`, which is indexed (`ix_outbox_events_subject`) and otherwise holds order and
endpoint ids, so finding it is an index lookup. A shop never alerted counts as `healthy`,
so a new healthy shop says nothing. Shops paused by the operator or disconnected are not
evaluated (nobody needs to be paged for what they did themselves); their last alert stands
until they are active again. When event retention prunes the last alert of a shop that is
still degraded, the evaluator alerts again: at most once per retention period.

**One evaluator at a time.** Several workers may run it: the comparison with the last alert
and the append happen in one transaction holding the row lock of the `health_alerts`
counter (the same no-op-UPDATE lock the feed sequencer uses), so two workers never both
emit the same change. The counter's value is the time of the last evaluation, which also
spaces evaluations across workers (`evaluate_alerts_if_due`).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopbridge.core.time import utcnow
from shopbridge.logging import get_logger
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.health import TOKEN_WARNING, ShopHealth, shop_health
from shopbridge.storage.outbox import append_events, event_values
from shopbridge.storage.scoping import unscoped
from shopbridge.storage.shops import ACTIVE
from shopbridge.storage.tables import CounterRow, OutboxEventRow

__all__ = [
    "ALERT_TYPES",
    "AUTH_EXPIRING",
    "DEFAULT_EVERY",
    "SYNC_DEGRADED",
    "SYNC_RECOVERED",
    "Alert",
    "decide",
    "evaluate_alerts",
    "evaluate_alerts_if_due",
]

log = get_logger(__name__)

SYNC_DEGRADED: Final = "shop.sync_degraded"
SYNC_RECOVERED: Final = "shop.sync_recovered"
AUTH_EXPIRING: Final = "shop.auth_expiring"
ALERT_TYPES: Final = (SYNC_DEGRADED, SYNC_RECOVERED, AUTH_EXPIRING)
SYNC_TYPES: Final = (SYNC_DEGRADED, SYNC_RECOVERED)
DEFAULT_EVERY: Final = timedelta(minutes=1)
LOCK_COUNTER: Final = "health_alerts"
_CHUNK: Final = 500
"""Shop ids per `IN` list: stays far below every driver's bound-parameter limit."""
REAUTHORISE: Final = (
    "Re-authorise the shop on the platform and store the new token with "
    "PATCH /v1/shops/{id} (credentials)."
)


@dataclass(frozen=True)
class Alert:
    """One alert event to append (or appended)."""

    tenant_id: str
    shop_id: str
    type: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class _LastAlerts:
    sync: tuple[str, Mapping[str, Any], datetime] | None = None
    auth: Mapping[str, Any] | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _shop_fields(health: ShopHealth) -> dict[str, Any]:
    return {
        "shop_id": health.shop_id,
        "platform": health.platform,
        "display_name": health.display_name,
    }


def _degraded_payload(health: ShopHealth, previous: str) -> dict[str, Any]:
    error = health.last_error
    return {
        **_shop_fields(health),
        "status": health.status,
        "previous_status": previous,
        "reasons": list(health.alerts),
        "last_error": (
            {
                "code": error.code,
                "message": error.message,
                "explanation": error.explanation,
                "action": error.action,
                "at": _iso(error.at),
                "interface": error.interface,
            }
            if error is not None
            else None
        ),
        "error_rate_5m": health.error_rate_5m,
        "error_rate_1h": health.error_rate_1h,
        "calls_5m": health.calls_5m,
        "calls_1h": health.calls_1h,
        "consecutive_failures": health.consecutive_failures,
        "lag_seconds": health.lag_seconds,
        "token_expires_at": _iso(health.token_expires_at),
    }


def decide(health: ShopHealth, last: _LastAlerts, now: datetime) -> list[Alert]:
    """The alerts a shop's current health calls for, given its last alerts: nothing when
    nothing changed since they were sent."""
    alerts: list[Alert] = []

    def alert(kind: str, payload: dict[str, Any]) -> None:
        alerts.append(Alert(health.tenant_id, health.shop_id, kind, payload))

    if health.status in ("healthy", "degraded", "failing"):
        previous = "healthy"
        since: datetime | None = None
        if last.sync is not None and last.sync[0] == SYNC_DEGRADED:
            previous = str(last.sync[1].get("status") or "degraded")
            since = last.sync[2]
        if health.status != previous:
            if health.status == "healthy":
                alert(
                    SYNC_RECOVERED,
                    {
                        **_shop_fields(health),
                        "status": "healthy",
                        "previous_status": previous,
                        "degraded_since": _iso(since),
                    },
                )
            else:
                alert(SYNC_DEGRADED, _degraded_payload(health, previous))
    expires = health.token_expires_at
    if expires is not None and expires - now <= TOKEN_WARNING:
        stamp = _iso(expires)
        if last.auth is None or last.auth.get("token_expires_at") != stamp:
            alert(
                AUTH_EXPIRING,
                {
                    **_shop_fields(health),
                    "token_expires_at": stamp,
                    "expired": expires <= now,
                    "expires_in_seconds": max(round((expires - now).total_seconds()), 0),
                    "action": REAUTHORISE,
                },
            )
    return alerts


async def _last_alerts(session: AsyncSession, shop_ids: Sequence[str]) -> dict[str, _LastAlerts]:
    """Each shop's newest sync alert and newest token alert: a grouped `max(seq)` over the
    indexed `subject_id` (alert events name their shop there), then those rows."""
    found: dict[str, _LastAlerts] = {}
    for start in range(0, len(shop_ids), _CHUNK):
        chunk = list(shop_ids[start : start + _CHUNK])
        newest = (
            select(func.max(OutboxEventRow.seq))
            .where(OutboxEventRow.subject_id.in_(chunk), OutboxEventRow.type.in_(ALERT_TYPES))
            .group_by(OutboxEventRow.subject_id, OutboxEventRow.type == AUTH_EXPIRING)
        )
        rows = (
            await session.execute(
                select(
                    OutboxEventRow.subject_id,
                    OutboxEventRow.type,
                    OutboxEventRow.payload,
                    OutboxEventRow.created_at,
                ).where(OutboxEventRow.seq.in_(newest))
            )
        ).all()
        for subject_id, kind, payload, created_at in rows:
            if subject_id is None:
                continue
            current = found.get(subject_id, _LastAlerts())
            if kind == AUTH_EXPIRING:
                found[subject_id] = _LastAlerts(current.sync, payload)
            else:
                found[subject_id] = _LastAlerts((kind, payload, created_at), current.auth)
    return found


async def _lock(session: AsyncSession) -> int:
    """Take the `health_alerts` counter's row lock until commit (created on first use) and
    return its value: the time of the last evaluation, in Unix milliseconds."""
    stmt = update(CounterRow).where(CounterRow.name == LOCK_COUNTER).values(value=CounterRow.value)
    result = await session.execute(stmt)
    if getattr(result, "rowcount", 0) == 0:
        try:
            async with session.begin_nested():
                session.add(CounterRow(name=LOCK_COUNTER, value=0))
                await session.flush()
        except IntegrityError:  # another worker created it meanwhile: wait for its lock
            await session.execute(stmt)
    value = await session.scalar(select(CounterRow.value).where(CounterRow.name == LOCK_COUNTER))
    return int(value or 0)


async def _last_evaluated(db: Database) -> int:
    async with db.read() as session:
        value = await session.scalar(
            select(CounterRow.value).where(CounterRow.name == LOCK_COUNTER)
        )
    return int(value or 0)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


async def evaluate_alerts(
    db: Database,
    box: SecretBox | None,
    *,
    poll_interval: float,
    now: datetime | None = None,
    tenant_ids: Collection[str] | None = None,
    shop_ids: Collection[str] | None = None,
    min_gap: timedelta | None = None,
) -> list[Alert]:
    """Evaluate the active shops (optionally only these tenants or shops) and append the
    alerts that changed; returns them. `poll_interval` is the default pull interval in
    seconds (shops may override it). With `min_gap`, nothing is done when any worker
    evaluated every shop less than `min_gap` ago (checked under the lock)."""
    now = now or utcnow()
    everything = tenant_ids is None and shop_ids is None
    with unscoped():  # serves every tenant, even if called inside a request
        async with db.read() as session:
            shops = await shop_health(
                session,
                box=box,
                default_poll_interval=poll_interval,
                now=now,
                tenant_ids=tenant_ids,
                shop_ids=shop_ids,
                statuses=(ACTIVE,),
                with_queue=False,
            )
        async with db.transaction() as session:
            last_run = await _lock(session)
            if min_gap is not None and everything and _millis(now) - last_run < _millis_of(min_gap):
                return []
            if everything:
                await session.execute(
                    update(CounterRow)
                    .where(CounterRow.name == LOCK_COUNTER)
                    .values(value=_millis(now))
                )
            if not shops:
                return []
            last = await _last_alerts(session, [s.shop_id for s in shops])
            alerts = [a for s in shops for a in decide(s, last.get(s.shop_id, _LastAlerts()), now)]
            await append_events(
                session,
                [
                    event_values(
                        tenant_id=a.tenant_id,
                        type=a.type,
                        payload=a.payload,
                        shop_id=a.shop_id,
                        subject_id=a.shop_id,
                    )
                    for a in alerts
                ],
            )
    for a in alerts:
        log.info("shop_alert", shop_id=a.shop_id, type=a.type, status=a.payload.get("status"))
    return alerts


def _millis_of(gap: timedelta) -> int:
    return int(gap.total_seconds() * 1000)


_next_local: dict[int, float] = {}
"""Per database (by identity), when this process may evaluate next (monotonic clock)."""


async def evaluate_alerts_if_due(
    db: Database,
    box: SecretBox | None,
    *,
    poll_interval: float,
    shop_ids: Collection[str] | None = None,
    every: timedelta = DEFAULT_EVERY,
) -> list[Alert]:
    """What the sync worker calls on every loop turn: evaluates at most once per `every`
    in this process and, across workers, once per `every` in all (a worker restricted to
    some shops evaluates those regardless of the others). Never raises: an alert problem
    must not stop the sync; it is logged by type and the next evaluation is the retry."""
    clock = time.monotonic()
    if clock < _next_local.get(id(db), 0.0):
        return []
    _next_local[id(db)] = clock + every.total_seconds()
    try:
        if shop_ids is None and _millis(utcnow()) - await _last_evaluated(db) < _millis_of(every):
            return []  # another worker did it moments ago
        return await evaluate_alerts(
            db, box, poll_interval=poll_interval, shop_ids=shop_ids, min_gap=every
        )
    except Exception as exc:  # tried again after `every`, like any other evaluation
        log.error("shop_alerts_failed", error_type=type(exc).__name__)
        return []
