"""Prometheus metrics of platform calls and inbound pushes, fed by the sync log's recorder.

Label values are bounded by construction: `platform` and `interface` are connector constants
(interfaces are templates such as `orders/{id}.json`, never ids), `outcome` is one of
`shopbridge.connectors.explain.OUTCOMES`, and `code` is a code the explanation tables know
(anything else is `other`), so a platform inventing error codes cannot explode the series.

Imported by `shopbridge.api.metrics`, so an API process that makes no platform call still
exposes the series (at zero) and the help text.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ORDERS_INGESTED",
    "PLATFORM_CALLS",
    "PLATFORM_CALL_SECONDS",
    "PLATFORM_PUSHES",
    "STOCK_PUSHES",
    "SYNC_LOG_BUFFERED",
    "SYNC_LOG_DROPPED",
    "SYNC_LOG_FLUSH_FAILURES",
    "observe_call",
]

PLATFORM_CALLS: Final = Counter(
    "shopbridge_platform_calls_total",
    "Calls made to sales platforms, by outcome (ok, rate_limited, timeout, unavailable, "
    "auth_expired, rejected, not_found, invalid_response, error) and the platform's error "
    "code when it is a known one (else `other`; empty on success)",
    ["platform", "interface", "outcome", "code"],
)
PLATFORM_CALL_SECONDS: Final = Histogram(
    "shopbridge_platform_call_seconds",
    "Duration of calls to sales platforms (one HTTP exchange; rate-limit waits excluded)",
    ["platform", "interface"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
PLATFORM_PUSHES: Final = Counter(
    "shopbridge_platform_pushes_total",
    "Inbound platform pushes (webhooks, message relays), by outcome and known code",
    ["platform", "outcome", "code"],
)
ORDERS_INGESTED: Final = Counter(
    "shopbridge_orders_ingested_total",
    "Orders written by the order upsert (sync, push, backfill), by platform and outcome "
    "(created, updated; unchanged and stale re-reads write nothing and are not counted)",
    ["platform", "outcome"],
)
STOCK_PUSHES: Final = Counter(
    "shopbridge_stock_pushes_total",
    "Stock quantities pushed to sales platforms, one per listing attempt, by outcome (ok, failed)",
    ["platform", "outcome"],
)
SYNC_LOG_DROPPED: Final = Counter(
    "shopbridge_sync_log_dropped_total",
    "Sync-log records dropped before reaching the database (its buffer was full, e.g. "
    "while the database was down)",
)
SYNC_LOG_FLUSH_FAILURES: Final = Counter(
    "shopbridge_sync_log_flush_failures_total",
    "Failed attempts to write a batch of sync-log records (the batch is kept and retried)",
)
SYNC_LOG_BUFFERED: Final = Gauge(
    "shopbridge_sync_log_buffered",
    "Sync-log records waiting in memory to be written",
)

_children: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}
_MAX_CHILDREN: Final = 4096


def observe_call(platform: str, interface: str, outcome: str, code: str, seconds: float) -> None:
    """Count one call and its duration. The labelled children are cached: `labels()` takes
    a lock and validates on every call, which is most of the cost of a metric update."""
    key = (platform, interface, outcome, code)
    children = _children.get(key)
    if children is None:
        if len(_children) >= _MAX_CHILDREN:
            _children.clear()
        children = _children[key] = (
            PLATFORM_CALLS.labels(platform, interface, outcome, code),
            PLATFORM_CALL_SECONDS.labels(platform, interface),
        )
    counter, histogram = children
    counter.inc()
    histogram.observe(seconds)
