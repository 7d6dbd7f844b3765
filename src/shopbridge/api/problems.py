"""RFC 9457 problem details for every error the API can return.

Each problem has a stable `type` URI (documented in docs/errors.md) that clients can switch
on, a short `title`, a human `detail`, and for validation problems an `errors` list with a
JSON pointer into the request body (or the name of the query parameter / header).
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shopbridge.logging import get_logger
from shopbridge.storage.errors import Conflict, NotFound, StaleWrite

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:shopbridge:problem:"
log = get_logger(__name__)


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detail: str
    pointer: str | None = Field(default=None, description="JSON pointer into the request body")
    parameter: str | None = Field(default=None, description="Query or path parameter name")
    header: str | None = Field(default=None, description="Header name")
    code: str | None = Field(default=None, description="Machine-readable reason")


class Problem(BaseModel):
    """The body of every error response (`application/problem+json`)."""

    type: str = Field(examples=[TYPE_PREFIX + "not-found"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise anywhere in the API to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers


def not_found(detail: str) -> ProblemError:
    return ProblemError(404, "not-found", "Not found", detail)


def problem_response(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    errors: list[FieldError] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=TYPE_PREFIX + slug,
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _field_error(err: dict[str, Any]) -> FieldError:
    loc = [str(part) for part in err.get("loc", ())]
    where, rest = (loc[0], loc[1:]) if loc else ("body", [])
    message = str(err.get("msg", "invalid value"))
    code = str(err.get("type", "invalid"))
    if where == "body":
        pointer = "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in rest)
        return FieldError(detail=message, pointer=pointer, code=code)
    if where == "header":
        return FieldError(detail=message, header=rest[0] if rest else None, code=code)
    return FieldError(detail=message, parameter=rest[0] if rest else None, code=code)


_STATUS_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Validation error"),
    429: ("rate-limited", "Too many requests"),
    424: ("platform-error", "Platform error"),
}


def _allowed_methods(request: Request) -> list[str]:
    """Starlette names only the first route of a path in `Allow`; list every route's methods."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        route_methods = getattr(route, "methods", None)
        if match != Match.NONE and route_methods:
            methods |= set(route_methods)
    return sorted(methods)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.slug,
            exc.title,
            exc.detail,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw_errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in raw_errors):
            return problem_response(
                request,
                400,
                "malformed-json",
                "Malformed JSON",
                "The request body is not valid JSON.",
            )
        errors = [_field_error(e) for e in raw_errors]
        summary = "; ".join(
            f"{e.pointer or e.parameter or e.header or 'request'}: {e.detail}" for e in errors[:3]
        )
        return problem_response(
            request,
            422,
            "validation-error",
            "Validation error",
            f"The request is not valid: {summary}",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _STATUS_TITLES.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No resource at {request.url.path}."
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}."
        return problem_response(request, exc.status_code, slug, title, detail, headers=headers)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem_response(request, 404, "not-found", "Not found", str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        return problem_response(request, 409, "conflict", "Conflict", str(exc))

    @app.exception_handler(StaleWrite)
    async def _stale(request: Request, exc: StaleWrite) -> JSONResponse:
        return problem_response(request, 409, "stale-write", "Stale write", str(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The exception text may hold anything; it is logged by type only, never echoed.
        frames = [
            f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(exc.__traceback__)
        ]
        log.error(
            "unhandled_error",
            path=request.url.path,
            error_type=type(exc).__name__,
            frames=frames[-8:],
        )
        return problem_response(
            request,
            500,
            "internal-error",
            "Internal error",
            "ShopBridge could not complete the request; it has been logged.",
        )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries so clients (and schemathesis) know every error is a problem document."""
    return {
        status: {
            "model": Problem,
            "description": _STATUS_TITLES.get(status, ("", "Error"))[1],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


V1_ERRORS = problem_responses(400, 401, 403, 404, 409, 413, 415, 422, 429)
