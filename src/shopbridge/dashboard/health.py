"""What the dashboard shows about a shop's and a webhook endpoint's health.

The numbers come from `GET /v1/health/shops` when this build has it. When it does not (the
endpoint answers 404, for example on a build from before it existed) the dashboard derives
the same fields from what every build has: the shop, `GET /v1/shops/{id}/sync` and the
newest failures of `GET /v1/sync-log`. Both paths end in one `ShopHealth`, so the templates
do not care where a value came from; `source` says it, for the page's footnote.

Parsing is deliberately lenient (unknown statuses, missing or oddly typed fields fall back to
"unknown" rather than failing the page): an operator opens this dashboard exactly when
something is odd, and a page that crashes on an unexpected value is worse than one that
shows a dash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Status = Literal["healthy", "degraded", "failing", "paused", "disconnected", "unknown"]
STATUSES: tuple[Status, ...] = (
    "healthy",
    "degraded",
    "failing",
    "paused",
    "disconnected",
    "unknown",
)
STATUS_ORDER: dict[str, int] = {
    "failing": 0,
    "degraded": 1,
    "unknown": 2,
    "paused": 3,
    "disconnected": 4,
    "healthy": 5,
}
"""Worst first: the overview lists the shops that need the operator at the top."""

FAILING_AFTER_FAILURES = 2
"""Derived status: consecutive failed sync runs after which a shop is `failing` (one failure
is often a blip the backoff absorbs, so it only makes the shop `degraded`)."""
LAG_DEGRADED_SECONDS = 15 * 60
"""Derived status: a shop whose newest pulled window ends further back than this is behind."""
AUTH_OUTCOMES = frozenset({"auth_expired"})
REAUTHORISE = "re-authorise"
"""The words the sync engine (paused reason), the explanations (action) and the health API
(alerts) all use when the shop's credentials must be renewed."""


@dataclass(frozen=True)
class Failure:
    """One failure with the plain explanation and the action to take (when known)."""

    message: str | None
    code: str | None = None
    explanation: str | None = None
    action: str | None = None
    at: str | None = None
    interface: str | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class ShopHealth:
    shop_id: str
    display_name: str
    platform: str
    status: Status
    sync_state: str | None
    last_success_at: str | None = None
    last_attempt_at: str | None = None
    last_error: Failure | None = None
    lag_seconds: float | None = None
    error_rate_5m: float | None = None
    error_rate_1h: float | None = None
    calls_5m: int | None = None
    calls_1h: int | None = None
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    unsequenced_events: int | None = None
    pending_deliveries: int | None = None
    token_expires_at: str | None = None
    alerts: list[str] = field(default_factory=list)
    """Why the status is not `healthy`, one sentence each (the health API's reasons)."""
    consecutive_failures: int | None = None
    paused_reason: str | None = None
    note: str | None = None
    source: Literal["health", "derived"] = "health"

    @property
    def needs_reauthorisation(self) -> bool:
        """The platform refused the shop's credentials, or they are about to expire: only the
        operator can fix that (new credentials), no retry will help."""
        error = self.last_error
        if error is not None and error.outcome in AUTH_OUTCOMES:
            return True
        texts = [self.paused_reason or "", *(self.alerts or [])]
        if error is not None:
            texts += [error.message or "", error.action or ""]
        return any(REAUTHORISE in text.lower() for text in texts)


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _status(value: object) -> Status:
    for status in STATUSES:
        if value == status:
            return status
    return "unknown"


def _alerts(value: object) -> list[str]:
    """Reason sentences; an alert given as an object shows its message (or type)."""
    texts: list[str] = []
    if not isinstance(value, list):
        return texts
    for item in value:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, Mapping):
            text = _str(item.get("message")) or _str(item.get("type")) or _str(item.get("name"))
            if text:
                texts.append(text)
    return texts


def failure_from(entry: Mapping[str, Any] | None) -> Failure | None:
    """A `last_error` object of the health API or a failed sync-log entry as a `Failure`."""
    if not isinstance(entry, Mapping):
        return None
    return Failure(
        message=_str(entry.get("message")),
        code=_str(entry.get("code")),
        explanation=_str(entry.get("explanation")),
        action=_str(entry.get("action")),
        at=_str(entry.get("at")) or _str(entry.get("created_at")),
        interface=_str(entry.get("interface")),
        outcome=_str(entry.get("outcome")),
    )


def from_health(entry: Mapping[str, Any]) -> ShopHealth:
    """One item of `GET /v1/health/shops`."""
    queue = entry.get("queue") if isinstance(entry.get("queue"), Mapping) else {}
    assert isinstance(queue, Mapping)
    interfaces = entry.get("interfaces")
    return ShopHealth(
        shop_id=str(entry.get("shop_id", "")),
        display_name=_str(entry.get("display_name")) or str(entry.get("shop_id", "")),
        platform=_str(entry.get("platform")) or "",
        status=_status(entry.get("status")),
        sync_state=_str(entry.get("sync_state")),
        last_success_at=_str(entry.get("last_success_at")),
        last_attempt_at=_str(entry.get("last_attempt_at")),
        last_error=failure_from(entry.get("last_error")),
        lag_seconds=_float(entry.get("lag_seconds")),
        error_rate_5m=_float(entry.get("error_rate_5m")),
        error_rate_1h=_float(entry.get("error_rate_1h")),
        calls_5m=_int(entry.get("calls_5m")),
        calls_1h=_int(entry.get("calls_1h")),
        interfaces=[i for i in interfaces if isinstance(i, dict)]
        if isinstance(interfaces, list)
        else [],
        unsequenced_events=_int(queue.get("unsequenced_events")),
        pending_deliveries=_int(queue.get("pending_deliveries")),
        token_expires_at=_str(entry.get("token_expires_at")),
        alerts=_alerts(entry.get("alerts")),
        source="health",
    )


def _parse(at: str | None) -> datetime | None:
    if not at:
        return None
    try:
        parsed = datetime.fromisoformat(at)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _newer(at: str | None, than: str | None) -> bool:
    mine, other = _parse(at), _parse(than)
    if mine is None:
        return False
    return other is None or mine > other


def derive(
    shop: Mapping[str, Any],
    sync: Mapping[str, Any] | None,
    failures: Sequence[Mapping[str, Any]] = (),
) -> ShopHealth:
    """Status of a shop from its sync state, for builds without `/v1/health/shops`.

    `failures` are the shop's newest failed sync-log entries (newest first); the newest one
    that is more recent than the last success lends its explanation and action, which the
    sync state alone does not carry."""
    shop_status = str(shop.get("status", ""))
    state = _str(sync.get("state")) if sync else None
    consecutive = _int(sync.get("consecutive_failures")) if sync else None
    last_success = _str(sync.get("last_success_at")) if sync else None
    lag = _float(sync.get("lag_seconds")) if sync else None
    paused_reason = _str(sync.get("paused_reason")) if sync else None

    recent = next((f for f in failures if _newer(_str(f.get("created_at")), last_success)), None)
    last_error = failure_from(recent)
    sync_error = sync.get("last_error") if sync else None
    if isinstance(sync_error, Mapping) and _str(sync_error.get("message")):
        from_state = Failure(
            message=_str(sync_error.get("message")),
            code=_str(sync_error.get("code")),
            at=_str(sync_error.get("at")),
        )
        if last_error is None:
            last_error = from_state if _newer(from_state.at, last_success) else None
        elif last_error.message is None:
            last_error = Failure(
                message=from_state.message,
                code=last_error.code or from_state.code,
                explanation=last_error.explanation,
                action=last_error.action,
                at=last_error.at,
                interface=last_error.interface,
                outcome=last_error.outcome,
            )

    note: str | None = None
    status: Status
    if shop_status == "disconnected":
        status, last_error = "disconnected", None
    elif shop_status == "paused":
        status = "paused"
    elif sync is None:
        status, note = "unknown", "sync state not readable"
    elif state == "paused":
        status = "failing"
        note = paused_reason
    elif (consecutive or 0) >= FAILING_AFTER_FAILURES:
        status = "failing"
    elif (consecutive or 0) > 0 or state == "backoff":
        status = "degraded"
    elif state == "never_run":
        status, note = "degraded", "waiting for the first sync"
    elif lag is not None and lag > LAG_DEGRADED_SECONDS:
        status, note = "degraded", "behind the platform"
    else:
        status = "healthy"
    if status == "healthy":
        last_error = None
    return ShopHealth(
        shop_id=str(shop.get("id", "")),
        display_name=_str(shop.get("display_name")) or str(shop.get("id", "")),
        platform=_str(shop.get("platform")) or "",
        status=status,
        sync_state=state,
        last_success_at=last_success,
        last_attempt_at=_str(sync.get("last_attempt_at")) if sync else None,
        last_error=last_error,
        lag_seconds=lag,
        consecutive_failures=consecutive,
        paused_reason=paused_reason,
        note=note,
        source="derived",
    )


def worst_first(shops: Iterable[ShopHealth]) -> list[ShopHealth]:
    return sorted(shops, key=lambda s: (STATUS_ORDER.get(s.status, 9), s.display_name.lower()))


@dataclass(frozen=True)
class EndpointHealth:
    """A webhook endpoint with its delivery counts and what is going wrong with it."""

    endpoint: Mapping[str, Any]
    status: Status
    pending: int | None
    failed: int | None
    dead_letters: list[Mapping[str, Any]]
    retrying: list[Mapping[str, Any]]
    reason: str | None
    oldest_pending_at: str | None = None


def endpoint_health(
    endpoint: Mapping[str, Any],
    counts: Mapping[str, Any] | None,
    dead_letters: Sequence[Mapping[str, Any]] = (),
    pending: Sequence[Mapping[str, Any]] = (),
    reported: Mapping[str, Any] | None = None,
) -> EndpointHealth:
    """`failing` while the endpoint is disabled, has dead letters or has been failing;
    `degraded` while deliveries are being retried; otherwise `healthy`.

    `counts` are `pending`/`failed` (from `GET /v1/health/webhooks` or the endpoint's own
    `deliveries` counts); `reported` is the endpoint's health entry, when there is one, for
    the newest error and how old the backlog is."""
    reported = reported or {}
    retrying = [d for d in pending if (_int(d.get("attempts")) or 0) > 0]
    failed = _int(counts.get("failed")) if counts else None
    waiting = _int(counts.get("pending")) if counts else None
    reason: str | None = None
    status: Status
    if not endpoint.get("enabled", True):
        status = "failing"
        reason = _str(endpoint.get("disabled_reason")) or "disabled"
    elif failed or endpoint.get("failing_since"):
        status = "failing"
    elif retrying:
        status = "degraded"
    else:
        status = "healthy"
    latest: Mapping[str, Any] | None = next(iter([*dead_letters[:1], *retrying[:1]]), None)
    if reason is None and status != "healthy":
        if latest is not None:
            code = _int(latest.get("last_status_code"))
            reason = _str(latest.get("last_error")) or (f"HTTP {code}" if code else None)
        reason = reason or _str(reported.get("last_error"))
    return EndpointHealth(
        endpoint=endpoint,
        status=status,
        pending=waiting,
        failed=failed,
        dead_letters=list(dead_letters),
        retrying=retrying,
        reason=reason,
        oldest_pending_at=_str(reported.get("oldest_pending_at")),
    )
