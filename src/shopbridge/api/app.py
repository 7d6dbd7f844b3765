"""The FastAPI application: `/v1` API, health, metrics, problem+json errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from shopbridge import __version__, heap
from shopbridge.api.bootstrap import BootstrapResult, bootstrap
from shopbridge.api.guards import BodyGuardMiddleware
from shopbridge.api.idempotency import IdempotencyMiddleware, document_idempotency_header
from shopbridge.api.isolation import OwnTaskMiddleware
from shopbridge.api.metrics import MetricsMiddleware
from shopbridge.api.problems import install_problem_handlers
from shopbridge.api.routes import (
    audit,
    events,
    health,
    orders,
    push,
    shipments,
    shops,
    stock,
    synclog,
    system,
    tenants,
    waybills,
    webhooks,
)
from shopbridge.config import Settings, get_settings
from shopbridge.dashboard import router as dashboard_router
from shopbridge.delivery.dispatcher import Dispatcher, delivery_settings
from shopbridge.logging import get_logger
from shopbridge.storage.crypto import SecretBox
from shopbridge.storage.db import Database
from shopbridge.storage.migrate import upgrade
from shopbridge.storage.vault import attach_configured_vault
from shopbridge.sync.engine import SyncEngine, sync_settings
from shopbridge.sync.shipments import ShipmentWorker
from shopbridge.sync.stock import StockPusher

log = get_logger(__name__)

DESCRIPTION = """
ShopBridge is a self-hosted commerce integration gateway: integrate once with this API and
reach every sales platform a merchant sells on.

Authenticate with an API key: `Authorization: Bearer sbk_…`. Errors are RFC 9457
`application/problem+json` documents with a stable `type`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    migrate_on_start: bool | None = None,
    on_bootstrap: object = None,
    run_sync: bool = False,
    run_delivery: bool | None = None,
    on_started: Callable[[FastAPI], Awaitable[None]] | None = None,
) -> FastAPI:
    """Build the app. Migrations run at start-up for the embedded SQLite default (or when
    asked); on PostgreSQL an operator runs `shopbridge db upgrade` once per release."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.effective_database_url)
        app.state.db = db
        app.state.box = SecretBox.from_settings(settings)
        should_migrate = (
            migrate_on_start if migrate_on_start is not None else db.dialect == "sqlite"
        )
        if should_migrate:
            await upgrade(db)
        app.state.vault = await attach_configured_vault(db, app.state.box, settings)
        result = await bootstrap(
            db, settings.admin_key.get_secret_value() if settings.admin_key else None
        )
        app.state.bootstrap = result
        if callable(on_bootstrap):
            on_bootstrap(result)
        log.info("api_started", database=db.dialect, version=__version__)
        if on_started is not None:
            await on_started(app)
        heap.settle()  # what start-up built stays out of the cyclic collector's way
        stop = asyncio.Event()
        workers: list[asyncio.Task[None]] = []
        if run_sync:
            # In-process sync worker (the embedded default); `shopbridge worker` runs the
            # same engine in separate processes when the API is scaled out.
            engine = SyncEngine(db, app.state.box, settings=sync_settings(settings))
            workers.append(asyncio.create_task(engine.run_forever(stop), name="sync-worker"))
            pusher = StockPusher(db, app.state.box)
            workers.append(asyncio.create_task(pusher.run_forever(stop), name="stock-pusher"))
            shipper = ShipmentWorker(db, app.state.box)
            workers.append(asyncio.create_task(shipper.run_forever(stop), name="shipments"))
        if run_sync if run_delivery is None else run_delivery:
            dispatcher = Dispatcher(db, app.state.box, delivery_settings(settings))
            workers.append(asyncio.create_task(dispatcher.run_forever(stop), name="dispatcher"))
        try:
            yield
        finally:
            stop.set()
            for task in workers:
                await task
            await db.dispose()

    # Swagger UI and ReDoc are served from bundled files, not a CDN: self-hosted installs are
    # often behind a firewall, and the API reference must work there too.
    app = FastAPIOffline(
        title="ShopBridge",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
    )
    app.state.settings = settings
    install_problem_handlers(app)
    # Plain ASGI middleware (the last added is the outermost): `BaseHTTPMiddleware` would
    # add a task and a body stream to every request, pushes included.
    app.add_middleware(IdempotencyMiddleware)  # inside the body guard: only bodies it passed
    app.add_middleware(BodyGuardMiddleware)
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(OwnTaskMiddleware)  # context changes of a request stay in the request
    # Pushes first: routes are tried in order, and at peak nearly every request is a push.
    app.include_router(push.router, prefix="/v1")
    app.include_router(system.router)
    for module in (tenants, shops, orders, shipments, stock, webhooks, events, audit):
        app.include_router(module.router, prefix="/v1")
    app.include_router(waybills.router, prefix="/v1")  # privacy shipping
    app.include_router(synclog.router, prefix="/v1")  # operations; also runs the log's writer
    app.include_router(dashboard_router)  # operator dashboard under /dashboard
    app.include_router(health.router, prefix="/v1")  # operations: health per shop, alerts
    document_idempotency_header(app)
    return app


__all__ = ["BootstrapResult", "create_app"]
