"""Prometheus metrics of the HTTP layer. Labels use the route template, never the raw path,
so ids cannot explode cardinality or leak into metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.responses import Response

from shopbridge import __version__

HTTP_REQUESTS = Counter(
    "shopbridge_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "shopbridge_http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)
BUILD_INFO = Gauge("shopbridge_build_info", "ShopBridge build", ["version"])
BUILD_INFO.labels(version=__version__).set(1)


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


async def metrics_middleware(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    started = time.perf_counter()
    response = await call_next(request)
    route = _route_template(request)
    HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    HTTP_LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    return response
