"""`Idempotency-Key` for every `/v1` write: a client that retries after a timeout or a dropped
connection gets the first answer again instead of creating a second shop, key or endpoint.

The key is claimed before the route runs and the answer stored after it (see
`shopbridge.storage.idempotency`). Keys are scoped to the bearer token, so one client can never
see another's answers, and stored bodies are sealed because they may hold secrets shown once
(a new API key, a webhook signing secret). Inbound platform pushes (`/v1/push/…`) are left
alone: they are deduplicated by the platform's message id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.security.utils import get_authorization_scheme_param
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from shopbridge.api.problems import FieldError, problem_response
from shopbridge.core.time import utcnow
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.idempotency import Outcome, claim_key, release_claim, store_answer

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Answers that say "not now" or "not you" rather than "this is the result": the client should be
# able to retry them with the same key, so they are not kept.
_NOT_STORED = frozenset({401, 403, 409, 429})
_REPLAYED_HEADERS = ("content-type", "location")
QUERY_POSTS = frozenset({"/v1/orders/search", "/v1/receivers/decrypt"})
"""POSTs that read rather than write (their body carries personal data that must stay out
of URLs). Nothing to make retry-safe, and their answers (buyer data, decrypted receivers)
must never be stored, not even sealed, nor handed out again without a new audit record."""


def _applies(request: Request) -> bool:
    path = request.url.path
    return (
        request.method in _WRITE_METHODS
        and path.startswith("/v1/")
        and not path.startswith("/v1/push/")
        and path not in QUERY_POSTS
        and _has_route(request)
    )


def _has_route(request: Request) -> bool:
    """Only requests a route will run: an unknown path or method keeps its plain 404/405."""
    return any(route.matches(request.scope)[0] is Match.FULL for route in request.app.router.routes)


def _valid_key(key: str) -> bool:
    return 1 <= len(key) <= MAX_KEY_LENGTH and all(" " <= ch <= "~" for ch in key)


def _scope(request: Request) -> str | None:
    """sha256 of the bearer token: keys are per caller, and the token itself is never stored."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        return None
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _fingerprint(request: Request, body: bytes) -> str:
    head = json.dumps([request.method, request.url.path, request.url.query]).encode()
    return hashlib.sha256(head + b"\n" + body).hexdigest()


def _key_problem(request: Request, status: int, slug: str, title: str, detail: str) -> Response:
    return problem_response(
        request,
        status,
        slug,
        title,
        detail,
        errors=[FieldError(detail=detail, header=HEADER, code=slug)],
    )


async def idempotency_guard(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    if not _applies(request) or HEADER not in request.headers:
        return await call_next(request)
    scope = _scope(request)
    if scope is None:  # the route answers 401; nothing to remember
        return await call_next(request)
    keys = request.headers.getlist(HEADER)
    if len(keys) != 1 or not _valid_key(keys[0]):
        return _key_problem(
            request,
            400,
            "invalid-idempotency-key",
            "Invalid idempotency key",
            f"Send one `{HEADER}` of 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
        )
    key = keys[0]
    db: Database = request.app.state.db
    box: SecretBox = request.app.state.box
    owner = f"idem:{scope}:{key}"
    # Read the body before the transaction: a slow upload must not hold the write lock.
    fingerprint = _fingerprint(request, await request.body())
    async with db.transaction() as session:
        decision = await claim_key(
            session, scope=scope, key=key, fingerprint=fingerprint, now=utcnow()
        )
    row = decision.row
    if decision.outcome is Outcome.MISMATCH:
        return _key_problem(
            request,
            422,
            "idempotency-key-reused",
            "Idempotency key reused",
            f"This `{HEADER}` was already used for a different request; use a new key.",
        )
    if decision.outcome is Outcome.IN_PROGRESS:
        return _key_problem(
            request,
            409,
            "idempotency-key-in-progress",
            "Idempotency key in progress",
            f"A request with this `{HEADER}` is still being processed; retry later.",
        )
    if decision.outcome is Outcome.REPLAY:
        # A `done` row always has both (`store_answer` writes them together).
        assert row.status_code is not None
        assert row.response_sealed is not None
        return Response(
            box.open(row.response_sealed, owner=owner),
            status_code=row.status_code,
            headers={**(row.response_headers or {}), REPLAYED_HEADER: "true"},
        )

    claimed_at = row.created_at
    try:
        response = await call_next(request)
        # call_next answers with a stream; the whole body is needed to store it.
        body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
    except Exception:
        # An unhandled error becomes a 500: free the key for a retry. (A cancelled request
        # leaves its claim behind, to be taken over once it counts as abandoned.)
        async with db.transaction() as session:
            await release_claim(session, scope=scope, key=key, claimed_at=claimed_at)
        raise
    async with db.transaction() as session:
        if response.status_code >= 500 or response.status_code in _NOT_STORED:
            await release_claim(session, scope=scope, key=key, claimed_at=claimed_at)
        else:
            sealed, _ = box.seal(body, owner=owner)
            await store_answer(
                session,
                scope=scope,
                key=key,
                claimed_at=claimed_at,
                status_code=response.status_code,
                headers={
                    name: response.headers[name]
                    for name in _REPLAYED_HEADERS
                    if name in response.headers
                },
                sealed_body=sealed,
            )
    buffered = Response(body, status_code=response.status_code)
    buffered.raw_headers = list(response.raw_headers)
    return buffered


_HEADER_RAW = HEADER.lower().encode("latin-1")


class IdempotencyMiddleware:
    """`idempotency_guard` as plain ASGI middleware for the requests it leaves alone (reads,
    platform pushes, writes without the header): they go to the app untouched. A write that
    carries the header runs through `idempotency_guard` exactly as before."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.guarded = BaseHTTPMiddleware(app, dispatch=idempotency_guard)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in _WRITE_METHODS
            and scope["path"].startswith("/v1/")
            and not scope["path"].startswith("/v1/push/")
            and any(name.lower() == _HEADER_RAW for name, _ in scope["headers"])
        ):
            await self.guarded(scope, receive, send)
            return
        await self.app(scope, receive, send)


def document_idempotency_header(app: FastAPI) -> None:
    """Publish the header on every write operation in `/openapi.json`, so generated clients
    (and the API fuzzer) know it exists; the middleware, not the routes, implements it."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        parameter = {
            "name": HEADER,
            "in": "header",
            "required": False,
            "description": "Retry-safe writes: the same key and request within 24 h return the "
            f"first answer again (with `{REPLAYED_HEADER}: true`); the same key with another "
            "request is refused with 422.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
        }
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/v1/") or path.startswith("/v1/push/") or path in QUERY_POSTS:
                continue
            for method, operation in operations.items():
                if method.upper() in _WRITE_METHODS:
                    operation.setdefault("parameters", []).append(parameter)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
