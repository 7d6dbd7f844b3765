"""Liveness, readiness and metrics: unauthenticated, for load balancers and Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shopbridge.api.problems import Problem, problem_response
from shopbridge.api.schemas import HealthOut, ReadyOut
from shopbridge.storage.migrate import current_revision, head_revision

router = APIRouter(tags=["system"])


@router.get("/", include_in_schema=False)
async def dashboard() -> RedirectResponse:
    """The operator dashboard lives under `/dashboard` (server-rendered, see
    `shopbridge.dashboard`); the root only sends browsers there. A `#key=…` fragment in the
    link survives the redirect (browsers keep it), and the sign-in page uses it."""
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/healthz", response_model=HealthOut, summary="Liveness")
async def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": Problem, "content": {"application/problem+json": {}}}},
    summary="Readiness: database reachable and migrated",
)
async def readyz(request: Request) -> Response:
    db = request.app.state.db
    try:
        revision = await current_revision(db)
    except Exception as exc:  # any driver error means "not ready", with its type as reason
        return problem_response(
            request,
            503,
            "not-ready",
            "Not ready",
            f"The database is not reachable ({type(exc).__name__}).",
        )
    head = head_revision()
    if revision != head:
        return problem_response(
            request,
            503,
            "not-ready",
            "Not ready",
            f"The database schema is at {revision}, expected {head}: run `shopbridge db upgrade`.",
        )
    vault = request.app.state.vault
    return JSONResponse(
        ReadyOut(
            status="ready",
            database=db.dialect,
            schema_revision=revision,
            retention=vault.retention,
            orders_in_memory=len(vault.memory),
        ).model_dump()
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
