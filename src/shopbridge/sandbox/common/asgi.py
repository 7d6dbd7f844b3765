"""The shell every sandbox app shares: lifespan around the sandbox's background work, the
`/_sandbox` control router and its docs, the platform's own routes, and a catch-all that
answers in the platform's error format."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import APIRouter, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from shopbridge import __version__

Handler = Callable[[Request], Awaitable[Response]]
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


class Lifecycle(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def sandbox_app(
    sandbox: Lifecycle,
    *,
    title: str,
    description: str,
    control: APIRouter,
    routes: Mapping[str, Handler],
    fallback: Handler,
) -> FastAPI:
    """`app.state.sandbox` is the sandbox; its background work runs inside the lifespan."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.stop()

    app = FastAPI(
        title=title,
        version=__version__,
        description=description,
        lifespan=lifespan,
        docs_url="/_sandbox/docs",
        redoc_url=None,
        openapi_url="/_sandbox/openapi.json",
    )
    app.state.sandbox = sandbox
    app.include_router(control)
    for path, handler in routes.items():
        app.add_route(path, handler, methods=ALL_METHODS, include_in_schema=False)
    app.add_route("/{path:path}", fallback, methods=ALL_METHODS, include_in_schema=False)
    return app


__all__ = ["ALL_METHODS", "Lifecycle", "sandbox_app"]
