"""Checks applied to every request body before routing: size and media type.

They answer 413/415 problems early, so an oversized or non-JSON body is never parsed and never
reaches a handler (and so never changes anything).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shopbridge.api.problems import problem_response

MAX_BODY_BYTES = 1024 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def body_guard(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    if request.method in _BODY_METHODS and request.url.path.startswith("/v1/"):
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return problem_response(
                request,
                413,
                "payload-too-large",
                "Payload too large",
                f"Request bodies are limited to {MAX_BODY_BYTES} bytes.",
            )
        content_type = request.headers.get("content-type")
        is_push = request.url.path.startswith("/v1/push/")  # platforms choose their own format
        if (
            content_type is not None
            and length != "0"
            and not is_push
            and not _is_json(content_type)
        ):
            return problem_response(
                request,
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"Send JSON with `Content-Type: application/json` (got {content_type[:80]!r}).",
            )
    return await call_next(request)


class BodyGuardMiddleware:
    """`body_guard` as plain ASGI middleware: the checks read only the request line and
    headers, so a request that passes goes to the app untouched, without the extra task and
    body stream `BaseHTTPMiddleware` puts around every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in _BODY_METHODS
            and scope["path"].startswith("/v1/")
        ):
            request = Request(scope, receive)
            rejected = await body_guard(request, _passed)
            if rejected is not _PASSED:
                await rejected(scope, receive, send)
                return
        await self.app(scope, receive, send)


_PASSED = Response()


async def _passed(_request: Request) -> Response:
    return _PASSED
