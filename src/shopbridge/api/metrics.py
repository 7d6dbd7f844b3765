"""Prometheus metrics of the HTTP layer. Labels use the route template, never the raw path,
so ids cannot explode cardinality or leak into metrics."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopbridge import __version__
from shopbridge.sync import platform_metrics  # noqa: F401  (platform calls, pushes, sync log)

HTTP_REQUESTS = Counter(
    "shopbridge_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "shopbridge_http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)
AUTH_FAILURES = Counter(
    "shopbridge_auth_failures_total",
    "API-key authentications refused: missing, invalid, revoked, expired key, or "
    "rate_limited (the address is over auth_failures_per_minute)",
    ["reason"],
)
BUILD_INFO = Gauge("shopbridge_build_info", "ShopBridge build", ["version"])
BUILD_INFO.labels(version=__version__).set(1)


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class MetricsMiddleware:
    """Counts every answered request by route template and status, and times it until its
    answer was sent. Plain ASGI (no task or body stream of its own per request). A request
    whose handler raised (the server answers 500) is not counted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, send_status)
        route = _template(scope)
        method = scope["method"]
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
